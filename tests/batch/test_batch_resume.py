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
import time
from collections import Counter
from contextlib import closing
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


# --- staying up, in this process: what wakes it -------------------------------------------


def _stay_up(tickets: Path, out: Path, on_first_wait) -> tuple[object, list, list]:
    """`batch --approve none --wait` in this process; `on_first_wait` runs in a thread when
    every ticket first waits. Returns the result, what it said it waits on, and its progress."""
    import threading

    import anyio

    from opscopilot.batch.runner import BatchOptions, BatchRunner

    told: list[list[str]] = []
    progress: list[tuple[str, str, bool]] = []

    def on_wait(waiting: list[str]) -> None:
        told.append(waiting)
        if len(told) == 1:
            threading.Thread(target=on_first_wait, daemon=True).start()

    runner = BatchRunner(
        tickets,
        out,
        BatchOptions(model="builtin:ops", approve="none", concurrency=2),
        wait=True,
        on_wait=on_wait,
        on_progress=lambda p: progress.append((p.ticket_id, p.status, p.continued)),
    )

    async def main():
        with anyio.fail_after(90):  # its own timer is an hour: only the store can wake it
            return await runner.run()

    return anyio.run(main), told, progress


def _approve_one_deny_the_other() -> None:
    """INC-4101 approved, INC-4102 denied, on a connection of their own."""
    from opscopilot.store import Store

    with closing(Store.open()) as store:
        approvals = {ticket_of(a.session_id): a.id for a in store.list_approvals()}
        for ticket, decision in (("INC-4101", "approved"), ("INC-4102", "denied")):
            store.decide_approval(
                approvals[ticket],
                decision=decision,
                operator="tester",
                host="elsewhere",
                decided_at=time.time(),
            )


@pytest.fixture
def two_tickets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    from opscopilot.batch import waiting

    monkeypatch.setattr(waiting, "RECHECK_S", 3600.0)
    tickets = tmp_path / "two.jsonl"
    tickets.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:2]))
    (tmp_path / "logs").symlink_to(SAMPLE.parent / "logs")
    return tickets, tmp_path / "two-report.jsonl"


def test_a_staying_up_run_is_woken_by_the_decision_itself_not_by_a_timer(
    two_tickets, store_url: str, monkeypatch: pytest.MonkeyPatch
):
    """On both backends: SQLite's feed moves `PRAGMA data_version`, PostgreSQL's is pushed
    (LISTEN/NOTIFY). The decisions come from a connection of their own, as another terminal's
    would (that one is `opscopilot approvals` in the test above)."""
    monkeypatch.setenv("OPSCOPILOT_STORE", store_url)
    tickets, out = two_tickets

    result, told, progress = _stay_up(tickets, out, _approve_one_deny_the_other)
    assert result.exit_code == 0 and result.continued == IDS[:2] and result.waiting == []
    assert told[0] == IDS[:2]
    lines = report(out)
    assert [lines[t]["tools"][0]["status"] for t in IDS[:2]] == ["ok", "denied"]
    assert sorted(p for p in progress if p[2]) == [(t, "completed", True) for t in IDS[:2]]


def test_a_staying_up_run_wakes_at_a_deadline_and_continues_with_the_expiry(
    two_tickets, isolated_home: Path
):
    tickets, out = two_tickets
    (isolated_home / "config.toml").write_text("[approvals]\nexpire_after_s = 1\n")
    result, _, _ = _stay_up(tickets, out, lambda: None)  # nobody decides
    assert result.exit_code == 0 and result.continued == IDS[:2]
    assert [report(out)[t]["tools"][0]["status"] for t in IDS[:2]] == ["denied", "denied"]
    from opscopilot.store import Store

    with closing(Store.open()) as store:
        approvals = store.list_approvals(status=None)
    assert len(approvals) == 2
    assert all(a.status == "expired" and a.operator == "opscopilot" for a in approvals)


def test_with_on_expiry_keep_a_lapsed_ticket_stays_paused_until_someone_decides_it(
    two_tickets, isolated_home: Path
):
    tickets, out = two_tickets
    (isolated_home / "config.toml").write_text(
        '[approvals]\nexpire_after_s = 1\non_expiry = "keep"\n'
    )
    import anyio

    from opscopilot.batch.runner import BatchOptions, BatchRunner
    from opscopilot.store import Store

    def once():  # `batch --approve none` without --wait, in this process
        options = BatchOptions(model="builtin:ops", approve="none", concurrency=2)
        return anyio.run(BatchRunner(tickets, out, options).run)

    assert once().exit_code == 3
    with closing(Store.open()) as store:
        approvals = {ticket_of(a.session_id): a for a in store.list_approvals(status=None)}
    lapse = max(a.expires_at for a in approvals.values())
    while time.time() <= lapse:  # both deadlines pass (waits for the clock, not for speed)
        time.sleep(0.05)
    # A rerun leaves them paused: nothing acts on a kept deadline.
    again = once()
    assert again.exit_code == 3 and again.continued == [] and again.waiting == IDS[:2]
    assert {line["status"] for line in report(out).values()} == {"awaiting_approval"}
    env = dict(os.environ)
    assert finished_turns(env) == Counter()

    # Staying up, a late decision records the expiry and that one ticket goes on, once.
    def decide_one() -> None:
        late = cli(env, "approvals", "approve", approvals["INC-4101"].id)
        assert "recorded as expired, not approved" in late.stderr
        with closing(Store.open()) as store:
            store.decide_approval(
                approvals["INC-4102"].id,
                decision="denied",
                operator="tester",
                host="elsewhere",
                decided_at=time.time(),
            )

    result, told, progress = _stay_up(tickets, out, decide_one)
    assert told[0] == IDS[:2] and result.continued == IDS[:2]
    assert [p for p in progress if p[2]] and len(progress) == 2  # each continued exactly once
    assert [report(out)[t]["tools"][0]["status"] for t in IDS[:2]] == ["denied", "denied"]


def test_a_staying_up_worker_waits_on_the_tickets_another_worker_paused(two_tickets):
    """`--run NAME --wait` beside a worker that pauses every ticket while this one finds
    nothing to claim: it stays up for those tickets too (it used to exit 3 at once) and
    continues each once decided, woken by the feed."""
    import threading

    import anyio

    from opscopilot.batch.runner import BatchOptions, BatchRunner
    from opscopilot.store.batch import BatchState, named_run_key

    tickets, out = two_tickets
    looked = threading.Event()  # the staying-up worker found nothing to claim: all are held
    claim, finished = BatchState.claim, BatchState.finished

    def claiming(self, *args, **kwargs):
        got = claim(self, *args, **kwargs)
        if got is None and self.open_elsewhere():
            looked.set()
        return got

    def finishing(self, *args, **kwargs):  # the first worker pauses its tickets only then
        assert looked.wait(60), "the staying-up worker never looked for a ticket"
        return finished(self, *args, **kwargs)

    told: list[list[str]] = []

    def on_wait(waiting: list[str]) -> None:
        told.append(waiting)
        if len(told) == 1:
            threading.Thread(target=_approve_one_deny_the_other, daemon=True).start()

    options = BatchOptions(model="builtin:ops", approve="none", concurrency=2)
    pauser = BatchRunner(tickets, out.with_name("pauser.jsonl"), options, run_name="night")
    stayer = BatchRunner(tickets, out, options, run_name="night", wait=True, on_wait=on_wait)
    results = {}

    async def work(name: str, runner: BatchRunner) -> None:
        results[name] = await runner.run()

    def both_held() -> None:
        with closing(BatchState(None, named_run_key("night"))) as probe:
            while probe.open_elsewhere() < 2:  # the first worker's claims, read from the store
                time.sleep(0.01)

    async def main() -> None:
        with anyio.fail_after(90):
            async with anyio.create_task_group() as group:
                group.start_soon(work, "pauser", pauser)
                await anyio.to_thread.run_sync(both_held)
                group.start_soon(work, "stayer", stayer)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BatchState, "claim", claiming)
        patch.setattr(BatchState, "finished", finishing)
        anyio.run(main)
    assert results["pauser"].exit_code == 3 and results["pauser"].waiting == IDS[:2]
    assert told[:1] == [IDS[:2]]  # it waited on both, paused by the other worker
    stayed = results["stayer"]
    assert stayed.exit_code == 0 and stayed.continued == IDS[:2] and stayed.waiting == []
    assert [report(out)[t]["tools"][0]["status"] for t in IDS[:2]] == ["ok", "denied"]
