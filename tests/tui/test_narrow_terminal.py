"""The TUI at 80×24, the size of a default terminal: what matters stays on screen."""

from __future__ import annotations

import re

import pytest
from textual.widgets import RichLog
from textual.widgets._footer import FooterKey

from opscopilot import events as ev
from opscopilot.store import ApprovalRecord
from opscopilot.store.approvals import call_hash
from opscopilot.tui.app import create_app
from opscopilot.tui.engine import ApprovalView
from opscopilot.tui.widgets.reviews import ReviewsPanel
from opscopilot.tui.widgets.tool_card import ToolCard
from tests.tui.conftest import FIXED_NOW, make_app, wait_for

pytestmark = pytest.mark.anyio

SIZE = (80, 24)


def ids(pane) -> dict:
    return {"ts": FIXED_NOW, "session_id": pane.session_id, "turn_id": "t-1"}


def visible(widget, width: int = SIZE[0]) -> bool:
    """Shown whole: laid out with some width, and not past the right edge."""
    region = widget.region
    return widget.display and region.width > 0 and region.right <= width


async def test_the_top_bar_keeps_every_meter_and_the_footer_keeps_reviews_and_cancel(engine):
    arguments = {"command": "systemctl restart nginx"}
    engine.store.create_approval(
        ApprovalRecord(
            id="a-1",
            session_id="s-other",
            turn_id="t-other",
            tool_call_id="tc-9",
            tool="run_command",
            arguments=arguments,
            risk="write",
            reason="restarts a service",
            call_hash=call_hash("run_command", arguments),
            requested_at=FIXED_NOW,
        )
    )
    app = make_app(engine, caps={"turn": 0.5, "day": 20.0})
    async with app.run_test(size=SIZE) as pilot:
        pane = app.active_pane
        await wait_for(pilot, lambda: len(app.pending) == 1, timeout=15)  # F5 applies
        for event in (
            ev.TurnStarted(**ids(pane), prompt="how full are the disks?", model="builtin:ops"),
            ev.ModelCallStarted(**ids(pane), call_id="c-1", provider="builtin", model="ops"),
            ev.ModelFinished(
                **ids(pane),
                call_id="c-1",
                provider="builtin",
                model="ops",
                finish_reason="stop",
                usage={"input_tokens": 900, "output_tokens": 30},
                cost_usd=0.0019,
                cost_simulated=True,
            ),
        ):
            await app.ingest(event)
        app._refresh_meters()
        await wait_for(pilot, lambda: pane.cancellable)  # F9 applies
        await pilot.pause()
        for scope in ("call", "turn", "session", "day"):
            meter = app.main_screen.query_one(f"#meter-{scope}")
            text = str(meter.render())
            assert visible(meter), (scope, meter.region)
            assert meter.region.width >= len(text), (scope, text)
        assert str(app.main_screen.query_one("#meter-day").render()).startswith("today $0.0019")
        assert "sim" in str(app.main_screen.query_one("#meter-turn").render())

        def footer_keys() -> dict[str, tuple[bool, object]]:
            keys = {key.key: key for key in app.main_screen.query(FooterKey)}
            return {
                k: (k in keys and visible(keys[k]), keys[k].region if k in keys else None)
                for k in ("f1", "f5", "f9")
            }

        try:  # the footer recomposes when the keys that apply change
            await wait_for(pilot, lambda: all(ok for ok, _ in footer_keys().values()), timeout=15)
        except AssertionError:
            raise AssertionError(f"footer keys cut off: {footer_keys()}") from None


async def test_tool_output_wraps_inside_its_card_at_80_columns(engine):
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.active_pane
        long_line = "kernel: " + " ".join(f"word{n:03d}" for n in range(30)) + " END"
        await app.ingest(
            ev.ToolStarted(
                **ids(pane), tool_call_id="tc-1", name="run_command", arguments={"command": "dmesg"}
            )
        )
        await app.ingest(ev.ToolOutput(**ids(pane), tool_call_id="tc-1", text=long_line))
        log = pane.query_one(ToolCard).query_one(RichLog)
        await wait_for(pilot, lambda: len(log.lines) >= 3)
        shown = " ".join(strip.text.strip() for strip in log.lines)
        assert shown.endswith("END") and "word015" in shown
        assert all(strip.cell_length <= log.region.width for strip in log.lines)


async def test_the_reviews_hint_names_the_keys_the_operator_mapped(engine):
    app = make_app(engine, keys={"review.approve": "y", "review.deny": "n"})
    async with app.run_test(size=SIZE) as pilot:
        panel = app.main_screen.query_one(ReviewsPanel)
        approval = ApprovalView(
            id="a-1",
            session_id="s-1",
            turn_id="t-1",
            tool="run_command",
            arguments={"command": "systemctl restart nginx"},
            risk="write",
            reason="restarts a service",
            requested_at=FIXED_NOW,
        )
        panel.show([approval], FIXED_NOW)
        await pilot.pause()
        hint = str(panel.query_one(".review-help").render())
        assert hint.startswith("y approve · n deny · e edit args")
        assert "a approve" not in hint


async def test_a_new_tui_session_has_the_id_shape_the_cli_uses():
    app = create_app(deterministic=True, poll_interval=0.2)
    async with app.run_test(size=SIZE):
        assert re.fullmatch(r"s-[0-9a-f]{10}", app.active_pane.session_id)
    app.engine.close()
