"""The whole loop on a fresh machine: the REAL runtime, store and tools with builtin:ops."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from opscopilot.tui.app import create_app
from opscopilot.tui.screens.dialogs import DenyReasonScreen
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio


async def test_builtin_ops_streams_runs_a_read_tool_pauses_for_approval_and_resumes_on_deny():
    app = create_app(deterministic=True, poll_interval=0.2)  # no key, no config: builtin:ops
    async with app.run_test(size=(140, 44)) as pilot:
        pane = app.active_pane
        assert pane.model == "builtin:ops"
        app.main_screen.query_one("#prompt", Input).value = "restart nginx and check disk usage"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.pending) == 1, timeout=30)
        # df ran (read), the restart waits (write); on a loaded machine the approval can be
        # asked for while df still runs, so wait for both rather than read them at once.
        await wait_for(
            pilot, lambda: {"ok", "awaiting"} <= {c.status for c in pane.tool_cards.values()}
        )
        assert "df" in pane.last_answer_text or "disk" in pane.last_answer_text.lower()
        assert "(simulated)" in str(app.main_screen.query_one("#meter-turn").render())

        await pilot.press("f5", "d")  # deny: never restart a real service from a test
        await wait_for(pilot, lambda: isinstance(app.screen, DenyReasonScreen))
        app.screen.query_one(Input).value = "not in a test"
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.state in {"completed", "denied"}, timeout=30)
        record = app.engine.store.list_approvals(status=None)[0]
        assert (record.status, record.decision_reason) == ("denied", "not in a test")
        restart = next(c for c in pane.tool_cards.values() if c.approval_id == record.id)
        assert restart.status == "denied"
    app.engine.close()
