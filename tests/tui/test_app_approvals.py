"""Pending reviews: approvals written by ANOTHER process appear, alert, and are decided
from the keyboard; the decision lands in the real store and the paused turn resumes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from textual.widgets import Input, Static, TextArea

from opscopilot import events as ev
from opscopilot.tui.screens.dialogs import DenyReasonScreen, EditArgumentsScreen
from opscopilot.tui.widgets.reviews import ReviewList, ReviewsPanel
from tests.tui.conftest import FIXED_NOW, ScriptedEngine, answer_script, make_app, wait_for

pytestmark = pytest.mark.anyio


def create_approval_in_another_process(
    approval_id: str,
    *,
    tool: str = "run_command",
    arguments: dict | None = None,
    risk: str = "write",
    session_id: str = "ses-ops",
    turn_id: str = "turn-ops",
) -> None:
    """What `opscopilot run` does when a turn pauses: a pending approval in the shared DB."""
    arguments = arguments or {"command": "systemctl restart nginx"}
    code = textwrap.dedent(
        f"""
        import json
        from opscopilot.store import ApprovalRecord, Store
        store = Store.open()
        store.create_approval(ApprovalRecord(
            id={approval_id!r}, session_id={session_id!r}, turn_id={turn_id!r},
            tool_call_id="tc-" + {approval_id!r}, tool={tool!r},
            arguments=json.loads({json.dumps(arguments)!r}), risk={risk!r},
            reason="restarts a service", call_hash="h-" + {approval_id!r},
            requested_at={FIXED_NOW - 75},
        ))
        store.close()
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def resumed_turn(session_id, turn_id, prompt, model):
    ids = {"ts": FIXED_NOW, "session_id": session_id, "turn_id": turn_id}
    return [ev.TurnFinished(**ids, status="completed", text="nginx restarted")]


@pytest.fixture
def approvals_engine():
    engine = ScriptedEngine(answer_script(["ok"]), resume_script=resumed_turn)
    yield engine
    engine.close()


async def test_an_approval_from_another_process_appears_alerts_and_is_approved_from_the_keyboard(
    approvals_engine,
):
    app = make_app(approvals_engine)
    async with app.run_test(size=(140, 40)) as pilot:
        assert not app.main_screen.query_one(ReviewsPanel).has_class("-has-pending")
        create_approval_in_another_process("ap-1")
        await wait_for(pilot, lambda: [a.id for a in app.pending] == ["ap-1"])

        assert app.alerts == 1 and "approval pending" in app.title
        assert "1 pending" in str(app.main_screen.query_one("#title", Static).render())
        row = app.main_screen.query_one(ReviewList).get_option_at_index(0).prompt.plain
        assert "run_command" in row and "systemctl restart nginx" in row and "1m15s ago" in row
        assert "▲ write" in row

        await pilot.press("f5", "a")
        await wait_for(pilot, lambda: approvals_engine.resumed == ["turn-ops"])
        record = approvals_engine.store.get_approval("ap-1")
        assert record.status == "approved" and record.operator
        await wait_for(pilot, lambda: app.pending == [])
        assert app.title == "opscopilot"
        assert app.main_screen.query_one("#prompt", Input).has_focus  # back to the prompt


async def test_deny_asks_for_a_reason_and_records_it(approvals_engine):
    app = make_app(approvals_engine)
    async with app.run_test(size=(140, 40)) as pilot:
        create_approval_in_another_process(
            "ap-2", arguments={"command": "rm -rf /var/cache/app"}, risk="destructive"
        )
        await wait_for(pilot, lambda: len(app.pending) == 1)
        await pilot.press("f5", "d")
        await wait_for(pilot, lambda: isinstance(app.screen, DenyReasonScreen))
        app.screen.query_one(Input).value = "not during business hours"
        await pilot.press("enter")
        await wait_for(pilot, lambda: approvals_engine.resumed == ["turn-ops"])
        record = approvals_engine.store.get_approval("ap-2")
        assert (record.status, record.decision_reason) == ("denied", "not during business hours")


async def test_escape_from_the_deny_dialog_decides_nothing(approvals_engine):
    app = make_app(approvals_engine)
    async with app.run_test(size=(140, 40)) as pilot:
        create_approval_in_another_process("ap-3")
        await wait_for(pilot, lambda: len(app.pending) == 1)
        await pilot.press("f5", "d")
        await wait_for(pilot, lambda: isinstance(app.screen, DenyReasonScreen))
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert approvals_engine.store.get_approval("ap-3").status == "pending"
        assert approvals_engine.resumed == []


async def test_edited_arguments_must_be_valid_json_matching_the_tool_before_approval(
    approvals_engine, monkeypatch
):
    problems = {"lines": "lines: Input should be a valid integer"}

    def validate(tool, arguments):  # the tool schema check, as D's registry reports it
        bad = [
            problems[k] for k in arguments if k in problems and not isinstance(arguments[k], int)
        ]
        return bad[0] if bad else None

    monkeypatch.setattr(approvals_engine, "validate_arguments", validate)
    app = make_app(approvals_engine)
    async with app.run_test(size=(140, 40)) as pilot:
        create_approval_in_another_process(
            "ap-4",
            tool="tail_log",
            arguments={"path": "/var/log/nginx/error.log", "lines": 100},
            risk="read",
        )
        await wait_for(pilot, lambda: len(app.pending) == 1)
        await pilot.press("f5", "e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditArgumentsScreen))
        editor = app.screen.query_one(TextArea)

        editor.text = '{"path": "/var/log/nginx/error.log", "lines": '  # broken JSON
        await pilot.press("ctrl+s")
        assert "not JSON" in str(app.screen.query_one("#edit-error", Static).render())

        editor.text = '{"path": "/var/log/nginx/error.log", "lines": "many"}'
        await pilot.press("ctrl+s")
        assert "valid integer" in str(app.screen.query_one("#edit-error", Static).render())
        assert approvals_engine.store.get_approval("ap-4").status == "pending"

        editor.text = '{"path": "/var/log/nginx/error.log", "lines": 20}'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: approvals_engine.resumed == ["turn-ops"])
        record = approvals_engine.store.get_approval("ap-4")
        assert record.status == "approved"
        assert record.edited_arguments == {"path": "/var/log/nginx/error.log", "lines": 20}


async def test_always_allow_records_a_rule_for_that_command_and_approves(approvals_engine):
    app = make_app(approvals_engine)
    async with app.run_test(size=(140, 40)) as pilot:
        create_approval_in_another_process("ap-5", session_id="ses-a")
        await wait_for(pilot, lambda: len(app.pending) == 1)
        await pilot.press("f5", "A")
        await wait_for(pilot, lambda: approvals_engine.resumed == ["turn-ops"])
        rules = approvals_engine.store.list_allow_rules("ses-a")
        assert [(r.tool, r.command) for r in rules] == [("run_command", "systemctl restart nginx")]
        assert approvals_engine.store.get_approval("ap-5").status == "approved"


async def test_the_turn_resumes_only_when_its_last_pending_approval_is_decided(approvals_engine):
    app = make_app(approvals_engine)
    async with app.run_test(size=(140, 40)) as pilot:
        create_approval_in_another_process("ap-6")
        create_approval_in_another_process(
            "ap-7", arguments={"command": "systemctl reload haproxy"}
        )
        await wait_for(pilot, lambda: len(app.pending) == 2)
        await pilot.press("f5", "a")
        await wait_for(pilot, lambda: len(app.pending) == 1)
        await pilot.pause(0.2)
        assert approvals_engine.resumed == []
        await pilot.press("f5", "a")
        await wait_for(pilot, lambda: approvals_engine.resumed == ["turn-ops"])


async def test_a_decision_made_elsewhere_first_is_one_error_line(approvals_engine):
    create_approval_in_another_process("ap-8")
    # Without the store's pushes the panel still lists it when we press: the race of a
    # decision landing between the panel's read and the key.
    approvals_engine.approval_changes = None
    app = make_app(approvals_engine, poll_interval=60)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: len(app.pending) == 1)
        approvals_engine.store.decide_approval(
            "ap-8", decision="denied", operator="bob", host="other", decided_at=FIXED_NOW
        )
        await pilot.press("f5", "a")
        await wait_for(
            pilot, lambda: any("already denied" in n.message for n in app._notifications)
        )
        assert approvals_engine.resumed == []


async def test_allow_rules_of_the_focused_session_are_listed_and_revoked_from_the_keyboard(
    approvals_engine,
):
    from opscopilot.tui.screens.pickers import AllowRulesScreen

    app = make_app(approvals_engine)
    async with app.run_test(size=(140, 40)) as pilot:
        session_id = app.active_pane.session_id
        approvals_engine.store.create_session(session_id, "builtin:ops", "t", FIXED_NOW)
        rule_id = approvals_engine.store.add_allow_rule(
            session_id, tool="run_command", command="systemctl restart nginx", created_at=FIXED_NOW
        )
        await pilot.press("f10")
        await wait_for(pilot, lambda: isinstance(app.screen, AllowRulesScreen))
        assert (
            "`systemctl restart nginx`"
            in app.screen.query_one("#rule-list").get_option_at_index(0).prompt
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: approvals_engine.store.list_allow_rules(session_id) == [])
        assert rule_id > 0
