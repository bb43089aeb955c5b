"""The main screen in each bundled theme, mid-turn: streamed answer, tool card, approval
waiting, meters. Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

import pytest

from opscopilot import events as ev
from tests.tui.conftest import FIXED_NOW, ScriptedEngine, answer_script, make_app, wait_for


def scene(session_id: str) -> list[ev.Event]:
    ids = {"ts": FIXED_NOW, "session_id": session_id, "turn_id": "t-1"}
    return [
        ev.TurnStarted(**ids, prompt="why is nginx returning 502?", model="builtin:ops"),
        ev.ModelCallStarted(**ids, call_id="c-1", provider="builtin", model="ops"),
        ev.ModelText(**ids, call_id="c-1", text="Checking the **upstream** first:\n\n"),
        ev.ModelText(**ids, call_id="c-1", text="- error log tail\n- restart if it is wedged\n"),
        ev.ModelFinished(
            **ids,
            call_id="c-1",
            provider="builtin",
            model="ops",
            finish_reason="tool_calls",
            usage={"input_tokens": 800, "output_tokens": 60},
            cost_usd=0.001,
            cost_simulated=True,
        ),
        ev.ToolProposed(
            **ids,
            tool_call_id="tc-1",
            name="tail_log",
            risk="read",
            arguments={"path": "/var/log/nginx/error.log", "lines": 3},
        ),
        ev.ToolStarted(
            **ids,
            tool_call_id="tc-1",
            name="tail_log",
            arguments={"path": "/var/log/nginx/error.log", "lines": 3},
        ),
        ev.ToolOutput(
            **ids, tool_call_id="tc-1", text="connect() failed (111) upstream 127.0.0.1:8080"
        ),
        ev.ToolFinished(**ids, tool_call_id="tc-1", name="tail_log", status="ok", duration_s=0.04),
        ev.ApprovalRequested(
            **ids,
            approval_id="ap-1",
            tool_call_id="tc-2",
            name="run_command",
            arguments={"command": "systemctl restart app"},
            risk="write",
        ),
        ev.SchedulerMetrics(
            ts=FIXED_NOW,
            in_flight=1,
            queued=0,
            capacity=4,
            tokens_per_s=120,
            usd_per_min=0.02,
            cooldowns={"openai": 12.0},
            spend={"turn": (0.001, 0.0012)},
        ),
    ]


@pytest.mark.parametrize(
    "theme", ["opscopilot-dark", "opscopilot-light", "opscopilot-high-contrast"]
)
def test_main_screen_snapshot(theme, snap_compare):
    engine = ScriptedEngine(answer_script([]))
    app = make_app(engine, theme=theme, poll_interval=3600)

    async def play(pilot) -> None:
        for event in scene(app.active_pane.session_id):
            await app.ingest(event)
        # The tool card's output reaches its log on a later frame, and the log draws it
        # once it has a size: wait for that (a pause alone was too short on a loaded machine).
        card = app.active_pane.tool_cards["tc-1"]
        await wait_for(pilot, lambda: len(card._log.lines) > 0)
        await pilot.pause(0.3)

    try:
        assert snap_compare(app, terminal_size=(130, 36), run_before=play)
    finally:
        engine.close()
