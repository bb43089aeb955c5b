"""Paused batch tickets continue once decided from another process: rerun, and `--wait`.

Real subprocesses on one SQLite store: `opscopilot batch --approve none` pauses every
ticket at its first tool call, `opscopilot approvals approve|deny` decides from outside.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "opscopilot" / "batch" / "sample" / "tickets.jsonl"
IDS = [f"INC-{4101 + n}" for n in range(5)]  # each asks for one tail_log of its evidence


@pytest.fixture
def backlog(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    tickets = tmp_path / "t.jsonl"
    tickets.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:5]))
    (tmp_path / "logs").symlink_to(SAMPLE.parent / "logs")
    home = tmp_path / "home"
    return tickets, tmp_path / "r.jsonl", {**os.environ, "OPSCOPILOT_HOME": str(home)}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args], capture_output=True, text=True, env=env
    )


def report(path: Path) -> dict[str, dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len({line["id"] for line in lines}), "one line per ticket"
    return {line["id"]: line for line in lines}


def ticket_of(session_id: str) -> str:
    return session_id.split("-", 2)[2]  # a ticket's session is s-RUN-TICKET


def pending(env: dict[str, str]) -> dict[str, dict]:
    """The pending approval of each ticket, by ticket id."""
    listed = json.loads(cli(env, "approvals", "list", "--json").stdout)
    return {ticket_of(a["session_id"]): a for a in listed}


def finished_turns(env: dict[str, str]) -> Counter[str]:
    """How many times each session's turn finished (turn.finished events)."""
    with sqlite3.connect(Path(env["OPSCOPILOT_HOME"]) / "opscopilot.db") as db:
        rows = db.execute("SELECT session_id FROM events WHERE type = 'turn.finished'")
        return Counter(ticket_of(session) for (session,) in rows)


def decide_three(env: dict[str, str]) -> dict[str, dict]:
    """Approve INC-4101, approve INC-4102 with edited arguments, deny INC-4103 with a reason."""
    approvals = pending(env)
    assert sorted(approvals) == IDS and all(a["tool"] == "tail_log" for a in approvals.values())
    assert cli(env, "approvals", "approve", approvals["INC-4101"]["id"]).returncode == 0
    edited = {**approvals["INC-4102"]["arguments"], "lines": 5}
    done = cli(
        env, "approvals", "approve", approvals["INC-4102"]["id"], "--args", json.dumps(edited)
    )
    assert done.returncode == 0, done.stderr
    denied = cli(env, "approvals", "deny", approvals["INC-4103"]["id"], "--reason", "not now")
    assert denied.returncode == 0
    return approvals


def test_a_rerun_continues_decided_tickets_once_and_keeps_undecided_ones_paused(backlog):
    tickets, out, env = backlog
    first = cli(env, "batch", str(tickets), "-o", str(out), "--approve", "none", "--quiet")
    assert first.returncode == 3, first.stderr
    assert {line["status"] for line in report(out).values()} == {"awaiting_approval"}
    assert "waiting for approval: INC-4101, INC-4102, INC-4103, INC-4104, INC-4105" in first.stdout

    untouched = cli(env, "batch", str(tickets), "-o", str(out), "--approve", "none", "--quiet")
    assert untouched.returncode == 3
    assert "continued" not in untouched.stdout  # nothing decided: nothing resumed
    assert not finished_turns(env)

    approvals = decide_three(env)
    second = cli(env, "batch", str(tickets), "-o", str(out), "--approve", "none", "--quiet")
    assert second.returncode == 3, second.stderr  # two still wait
    assert "continued after a decision: INC-4101, INC-4102, INC-4103" in second.stdout
    assert "waiting for approval: INC-4104, INC-4105" in second.stdout
    lines = report(out)
    assert [lines[i]["status"] for i in IDS[3:]] == ["awaiting_approval"] * 2
    assert lines["INC-4104"]["pending_approvals"] == [approvals["INC-4104"]["id"]]
    for ticket in IDS[:3]:
        assert lines[ticket]["status"] in ("completed", "denied") and lines[ticket]["summary"]
    tools = {t: lines[t]["tools"][0] for t in IDS[:3]}
    assert tools["INC-4101"]["status"] == "ok"
    assert tools["INC-4102"]["status"] == "ok" and tools["INC-4102"]["arguments"]["lines"] == 5
    assert tools["INC-4103"]["status"] == "denied"
    summary = out.with_suffix(".md").read_text()
    assert "Continued after a decision in this run: INC-4101, INC-4102, INC-4103." in summary
    assert f"- INC-4105: approval {approvals['INC-4105']['id']}" in summary

    third = cli(env, "batch", str(tickets), "-o", str(out), "--approve", "none", "--quiet")
    assert third.returncode == 3 and "continued" not in third.stdout
    assert report(out) == lines  # finished tickets are not redone
    assert finished_turns(env) == Counter({t: 1 for t in IDS[:3]})


WAIT = ("--approve", "none", "--wait", "--quiet")


def test_wait_stays_up_and_continues_each_ticket_as_it_is_decided(backlog):
    tickets, out, env = backlog
    process = subprocess.Popen(
        [sys.executable, "-m", "opscopilot", "batch", str(tickets), "-o", str(out), *WAIT],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        # The run says when every ticket is paused and it waits: decide then, from outside.
        line = process.stderr.readline()
        assert line.startswith("waiting for approval: " + ", ".join(IDS)), line
        approvals = decide_three(env)
        # It says again each time what it still waits on, as the decisions reach it.
        while not (line := process.stderr.readline()).startswith(
            "waiting for approval: INC-4104, INC-4105 "
        ):
            assert line.startswith("waiting for approval: "), line
        assert cli(env, "approvals", "approve", approvals["INC-4104"]["id"]).returncode == 0
        assert cli(env, "approvals", "deny", approvals["INC-4105"]["id"]).returncode == 0
        stdout, _ = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, stdout
    assert f"continued after a decision: {', '.join(IDS)}" in stdout
    lines = report(out)
    assert all(lines[t]["status"] in ("completed", "denied") for t in IDS)
    assert [lines[t]["tools"][0]["status"] for t in IDS] == ["ok", "ok", "denied", "ok", "denied"]
    assert finished_turns(env) == Counter({t: 1 for t in IDS})
