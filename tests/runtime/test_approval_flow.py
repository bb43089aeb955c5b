"""End to end over real processes: run pauses (exit 3), another process approves, resume ends it."""

from __future__ import annotations

import json
from pathlib import Path

from opscopilot.store import Store

from .support import CHAT_PATH, TEST_KEY, cli_env, opscopilot, script_append_turn, write_config


def test_write_tool_waits_for_approval_from_another_process_and_runs_exactly_once(
    wire_server, isolated_home: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.log"
    write_config(isolated_home, audit)
    script_append_turn(wire_server, text="hello-from-the-model")
    env = cli_env(isolated_home, wire_server)

    paused = opscopilot("run", "append hello to the audit log", "--json", env=env)
    assert paused.returncode == 3, paused.stderr
    outcome = json.loads(paused.stdout)
    assert outcome["status"] == "awaiting_approval"
    (approval_id,) = outcome["pending_approvals"]
    assert outcome["tool_calls"][0]["status"] == "awaiting_approval"
    assert not audit.exists()  # nothing ran before a person said yes

    approved = opscopilot("approvals", "approve", approval_id, "--operator", "alice", env=env)
    assert approved.returncode == 0, approved.stderr
    assert not audit.exists()  # approving records a decision; resume runs the call

    resumed = opscopilot("resume", outcome["turn_id"], "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout)
    assert final["status"] == "completed"
    assert final["tool_calls"] == [
        {
            "id": "call_1",
            "name": "append_line",
            "arguments": {"text": "hello-from-the-model"},
            "status": "ok",
        }
    ]
    assert "Appended" in final["text"]
    assert audit.read_text() == "hello-from-the-model\n"

    again = opscopilot("resume", outcome["turn_id"], "--json", env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "completed"
    assert audit.read_text() == "hello-from-the-model\n"  # a finished turn runs nothing

    with Store.open(isolated_home / "opscopilot.db") as store:
        record = store.get_approval(approval_id)
        assert record is not None and record.status == "approved" and record.operator == "alice"
        runs = [e for e in store.journal(outcome["turn_id"]) if e.kind == "tool_run"]
        assert len(runs) == 1 and runs[0].status == "ok"
        text = (isolated_home / "opscopilot.db").read_bytes()
        assert TEST_KEY.encode() not in text
    # the model saw the tool's real output the second time round
    second = wire_server.requests_to(CHAT_PATH)[-1].json()
    assert any(
        "appended hello-from-the-model" in m.get("content", "")
        for m in second["messages"]
        if m["role"] == "tool"
    )


def _cli(*args: str):
    from click.testing import CliRunner

    from opscopilot.cli.main import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_text_mode_prints_the_approval_hints_and_a_denial_still_lets_the_model_answer(
    wire_server, isolated_home: Path, tmp_path: Path, monkeypatch
) -> None:
    audit = tmp_path / "audit.log"
    write_config(isolated_home, audit)
    script_append_turn(wire_server)
    for name, value in cli_env(isolated_home, wire_server).items():
        if name.startswith(("OPENAI_", "OPSCOPILOT_")):
            monkeypatch.setenv(name, value)

    paused = _cli("run", "append hello")
    assert paused.exit_code == 3, paused.output
    assert "opscopilot approvals approve" in paused.stdout
    assert "opscopilot resume t-" in paused.stdout
    approval_id = paused.stdout.split("opscopilot approvals approve ")[1].split()[0]

    denied = _cli("approvals", "deny", approval_id, "--reason", "not now")
    assert denied.exit_code == 0, denied.output
    turn_id = paused.stdout.split("opscopilot resume ")[1].split()[0]
    resumed = _cli("resume", turn_id)
    assert resumed.exit_code == 0, resumed.output
    assert "Appended." in resumed.stdout  # the scripted model answers after any tool result
    assert "denied" in resumed.stderr
    assert not audit.exists()
    last = wire_server.requests_to(CHAT_PATH)[-1].json()
    tool_messages = [m for m in last["messages"] if m["role"] == "tool"]
    assert "not now" in tool_messages[-1]["content"]


def test_usage_errors_exit_2(isolated_home: Path) -> None:
    assert _cli("run", "hi", "--model", "nonsense").exit_code == 2
    assert _cli("resume", "t-doesnotexist").exit_code == 2
    assert _cli("run", "hi", "--approve", "sometimes").exit_code == 2
    assert _cli("run", "   ").exit_code == 2
