"""`opscopilot sessions` and `opscopilot approvals`, run as real processes over a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opscopilot.llm.types import ErrorInfo, Message, Usage
from opscopilot.store import ApprovalRecord, Store
from opscopilot.store.approvals import call_hash

REPO = Path(__file__).resolve().parents[2]


def opscopilot(home: Path, *args: str, user: str = "ann") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSCOPILOT_HOME": str(home), "USER": user, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def request(
    approval_id: str, command: str, *, requested_at: float = 1000.0, expires_at: float | None = None
) -> ApprovalRecord:
    arguments = {"command": command}
    return ApprovalRecord(
        id=approval_id,
        session_id="s1",
        turn_id="t1",
        tool_call_id=f"call-{approval_id}",
        tool="run_command",
        arguments=arguments,
        risk="write",
        reason="restarts a service",
        call_hash=call_hash("run_command", arguments),
        requested_at=requested_at,
        expires_at=expires_at,
    )


@pytest.fixture
def home(isolated_home: Path) -> Path:
    with Store.open() as store:
        store.create_session("s1", "builtin:ops", "gateway 5xx [prod]", 1000.0)
        store.create_session("s2", "openai:gpt-4o-mini", "disk", 900.0)
        store.create_turn("t1", "s1", "why is the gateway returning 5xx?", "builtin:ops", 1000.0)
        store.append_message("s1", "t1", Message.user("why is the gateway returning 5xx?"), 1000.0)
        store.append_message("s1", "t1", Message.assistant("Restarting nginx should help."), 1001.0)
        store.update_turn(
            "t1",
            status="awaiting_approval",
            updated_at=1002.0,
            usage=Usage(input_tokens=120, output_tokens=30),
            cost_usd=0.0123,
        )
        store.create_turn("t0", "s2", "df", "openai:gpt-4o-mini", 900.0)
        store.update_turn(
            "t0",
            status="failed",
            updated_at=901.0,
            error=ErrorInfo(kind="auth", message="bad key", retryable=False),
        )
        store.create_approval(request("a1", "systemctl restart nginx"))
        store.create_approval(request("a2", "systemctl stop nginx", requested_at=1001.0))
        store.create_approval(
            request("old", "rm -rf /tmp/cache", requested_at=10.0, expires_at=20.0)
        )
    return isolated_home


def test_sessions_list_and_show(home: Path) -> None:
    listed = opscopilot(home, "sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    sessions = json.loads(listed.stdout)
    assert [(s["id"], s["turn_count"], s["cost_usd"]) for s in sessions] == [
        ("s1", 1, 0.0123),
        ("s2", 1, 0.0),
    ]

    shown = opscopilot(home, "sessions", "show", "s1", "--json")
    assert shown.returncode == 0, shown.stderr
    session = json.loads(shown.stdout)
    assert session["title"] == "gateway 5xx [prod]"
    assert [(t["id"], t["status"], t["cost_usd"]) for t in session["turns"]] == [
        ("t1", "awaiting_approval", 0.0123)
    ]
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"]
    assert session["pending_approvals"] == ["a1", "a2"]

    text = opscopilot(home, "sessions", "show", "s2")
    assert text.returncode == 0 and "failed (auth)" in text.stdout
    header = opscopilot(home, "sessions", "show", "s1")
    assert (
        "gateway 5xx [prod]" in header.stdout and "Restarting nginx should help." in header.stdout
    )
    table = opscopilot(home, "sessions", "list")
    assert "gateway 5xx [prod]" in table.stdout and "$0.0123" in table.stdout

    missing = opscopilot(home, "sessions", "show", "nope")
    assert (missing.returncode, missing.stderr) == (1, "error: no session nope\n")


def test_approvals_list_pending_and_all(home: Path) -> None:
    pending = opscopilot(home, "approvals", "list", "--json")
    assert pending.returncode == 0, pending.stderr
    records = json.loads(pending.stdout)
    assert [r["id"] for r in records] == ["a1", "a2"]
    first = records[0]
    assert {
        k: first[k]
        for k in ("session_id", "turn_id", "tool", "arguments", "risk", "status", "requested_at")
    } == {
        "session_id": "s1",
        "turn_id": "t1",
        "tool": "run_command",
        "arguments": {"command": "systemctl restart nginx"},
        "risk": "write",
        "status": "pending",
        "requested_at": 1000.0,
    }

    every = json.loads(opscopilot(home, "approvals", "list", "--all", "--json").stdout)
    assert [(r["id"], r["status"]) for r in every] == [
        ("old", "expired"),
        ("a1", "pending"),
        ("a2", "pending"),
    ]
    table = opscopilot(home, "approvals", "list")
    assert "systemctl restart nginx" in table.stdout and "old" not in table.stdout


def test_approve_with_edited_arguments_then_a_second_decision_fails(home: Path) -> None:
    approved = opscopilot(
        home,
        "approvals",
        "approve",
        "a1",
        "--args",
        '{"command": "systemctl reload nginx"}',
        user="ann",
    )
    assert approved.returncode == 0, approved.stderr
    assert "opscopilot resume t1" in approved.stdout

    shown = json.loads(opscopilot(home, "approvals", "show", "a1", "--json").stdout)
    assert shown["status"] == "approved"
    assert shown["operator"] == "ann" and shown["host"] and shown["decided_at"]
    assert shown["arguments"] == {"command": "systemctl restart nginx"}
    assert shown["edited_arguments"] == {"command": "systemctl reload nginx"}
    assert shown["call_hash"] == call_hash("run_command", {"command": "systemctl reload nginx"})

    again = opscopilot(home, "approvals", "deny", "a1", "--reason", "changed my mind")
    assert (again.returncode, again.stderr) == (1, "error: approval a1 is already approved\n")
    with Store.open() as store:
        assert store.get_approval("a1").status == "approved"


def test_deny_records_reason_and_operator(home: Path) -> None:
    denied = opscopilot(
        home, "approvals", "deny", "a2", "--reason", "not in peak hours", "--operator", "bob"
    )
    assert denied.returncode == 0, denied.stderr
    assert "denied a2" in denied.stdout and "opscopilot resume t1" in denied.stdout
    text = opscopilot(home, "approvals", "show", "a2")
    assert "not in peak hours" in text.stdout and "by bob@" in text.stdout


def test_edited_arguments_are_checked_against_the_tool_schema(home: Path) -> None:
    from opscopilot import tools

    if not hasattr(tools, "ToolRegistry"):
        pytest.skip("the tools layer does not export ToolRegistry in this build")
    invalid = opscopilot(home, "approvals", "approve", "a1", "--args", '{"timeout_s": 5}')
    assert invalid.returncode == 2
    assert invalid.stderr.startswith("error: --args: ") and "run_command" in invalid.stderr
    assert invalid.stderr.count("\n") == 1
    with Store.open() as store:
        assert store.get_approval("a1").status == "pending"


def test_bad_input_is_one_line_and_exit_2_and_nothing_changes(home: Path) -> None:
    not_json = opscopilot(home, "approvals", "approve", "a1", "--args", "{command:")
    assert not_json.returncode == 2
    assert not_json.stderr.startswith("error: --args is not valid JSON")
    assert not_json.stderr.count("\n") == 1
    not_object = opscopilot(home, "approvals", "approve", "a1", "--args", '["ls"]')
    assert (not_object.returncode, not_object.stderr) == (
        2,
        "error: --args must be a JSON object of the tool's arguments\n",
    )
    unknown = opscopilot(home, "approvals", "approve", "zzz")
    assert (unknown.returncode, unknown.stderr) == (1, "error: no approval zzz\n")
    with Store.open() as store:
        assert store.get_approval("a1").status == "pending"


def test_deciding_a_lapsed_request_records_its_expiry(home: Path) -> None:
    late = opscopilot(home, "approvals", "approve", "old")
    assert late.returncode == 1
    assert "approval old expired at" in late.stderr and "not approved" in late.stderr
    with Store.open() as store:
        record = store.get_approval("old")
    assert record.status == "expired" and "came too late" in record.decision_reason


def test_a_broken_database_is_one_line(isolated_home: Path) -> None:
    (isolated_home / "opscopilot.db").write_text("not sqlite at all\n" * 50)
    result = opscopilot(isolated_home, "approvals", "list")
    assert result.returncode == 1
    assert (
        result.stderr.startswith("error: cannot open database") and result.stderr.count("\n") == 1
    )


def test_always_allow_from_the_cli_is_listed_and_revocable(home: Path) -> None:
    approved = opscopilot(home, "approvals", "approve", "a1", "--always", "--json")
    assert approved.returncode == 0, approved.stderr
    rule_id = json.loads(approved.stdout)["allow_rule_id"]
    listed = json.loads(opscopilot(home, "approvals", "rules", "s1", "--json").stdout)
    assert [(r["id"], r["tool"], r["command"]) for r in listed] == [
        (rule_id, "run_command", "systemctl restart nginx")
    ]
    assert "revoked" in opscopilot(home, "approvals", "revoke", str(rule_id)).stdout
    assert json.loads(opscopilot(home, "approvals", "rules", "s1", "--json").stdout) == []
    again = opscopilot(home, "approvals", "revoke", str(rule_id))
    assert again.returncode == 1 and "no allow rule" in again.stderr


def test_a_session_of_a_model_with_no_price_reads_unknown_not_zero(isolated_home: Path) -> None:
    with Store.open() as store:
        store.create_session("s9", "vllm:my-llama", "unpriced", 1000.0)
        store.create_turn("t9", "s9", "df", "vllm:my-llama", 1000.0)
        store.update_turn(
            "t9",
            status="completed",
            updated_at=1001.0,
            usage=Usage(input_tokens=90, output_tokens=9),
        )
        store.create_session("s8", "vllm:my-llama", "mixed", 900.0)
        store.create_turn("t8a", "s8", "df", "openai:gpt-4o-mini", 900.0)
        store.update_turn(
            "t8a", status="completed", updated_at=901.0, usage=Usage(input_tokens=5), cost_usd=0.5
        )
        store.create_turn("t8b", "s8", "df", "vllm:my-llama", 902.0)
        store.update_turn("t8b", status="completed", updated_at=903.0, usage=Usage(input_tokens=5))
    table = opscopilot(isolated_home, "sessions", "list")
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert "unknown" in rows["s9"] and "$0.0000" not in rows["s9"]
    assert "≥ $0.5000, 1 unknown" in rows["s8"]
    listed = json.loads(opscopilot(isolated_home, "sessions", "list", "--json").stdout)
    assert {s["id"]: s["unpriced_turns"] for s in listed} == {"s9": 1, "s8": 1}
    shown = opscopilot(isolated_home, "sessions", "show", "s9")
    assert "$0.0000" not in shown.stdout and "unknown" in shown.stdout
