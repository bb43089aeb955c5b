"""`opscopilot batch` over the shipped sample backlog, for real: subprocesses, SQLite, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from opscopilot.batch.tickets import Backlog, TicketError, load_tickets, ticket_prompt

SAMPLE = Path(__file__).resolve().parents[2] / "opscopilot" / "batch" / "sample" / "tickets.jsonl"
VOLATILE = ("session_id", "turn_id", "pending_approvals")


def batch(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSCOPILOT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", "batch", *args, "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=check,
    )


def normalised(report: Path) -> list[dict]:
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    for line in lines:
        for key in VOLATILE:
            line.pop(key, None)
    return lines


def test_the_sample_backlog_has_100_plus_realistic_tickets_with_their_evidence():
    tickets = load_tickets(SAMPLE)
    assert len(tickets) >= 100
    assert {t.severity for t in tickets} == {"sev1", "sev2", "sev3", "sev4"}
    assert len({t.service for t in tickets}) >= 10
    for ticket in tickets:
        for name in ticket.attachments:
            assert (SAMPLE.parent / name).is_file()
    prompt = ticket_prompt(tickets[0], SAMPLE.parent)
    assert prompt.startswith("Incident ticket INC-4101 (sev1, service payments-api): ")
    assert str((SAMPLE.parent / tickets[0].attachments[0]).resolve()) in prompt


def test_a_backlog_keeps_lines_and_gives_back_each_ticket_as_the_file_has_it():
    backlog = Backlog(SAMPLE)
    tickets = load_tickets(SAMPLE)
    assert backlog.ids == [t.id for t in tickets] and len(backlog) == len(tickets)
    assert [backlog[t.id] for t in tickets] == tickets
    assert backlog.order[tickets[3].id] == 3
    assert "INC-none" not in backlog and backlog.get("INC-none") is None


def test_a_bad_tickets_file_is_one_line_naming_the_line(tmp_path: Path):
    bad = tmp_path / "t.jsonl"
    bad.write_text('{"id": "A", "title": "ok"}\n{"id": "B"}\n')
    with pytest.raises(TicketError, match=r"t.jsonl:2: title: Field required"):
        load_tickets(bad)
    result = batch(tmp_path / "home", str(bad), check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {bad}:2: title: Field required"


def subset(tmp_path: Path, count: int) -> Path:
    """The first `count` sample tickets as a tickets file of their own, evidence beside it."""
    tickets = tmp_path / f"first-{count}.jsonl"
    tickets.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:count]))
    if not (tmp_path / "logs").exists():
        (tmp_path / "logs").symlink_to(SAMPLE.parent / "logs")
    return tickets


def progress(db_path: Path) -> tuple[int, int]:
    """(done, running) tickets of the one batch run in that store, as its state says."""
    if not db_path.exists():
        return 0, 0
    try:
        with sqlite3.connect(db_path, timeout=30) as db:
            rows = dict(db.execute("SELECT status, COUNT(*) FROM batch_items GROUP BY status"))
    except sqlite3.OperationalError:  # the run has not created its tables yet
        return 0, 0
    return rows.get("done", 0), rows.get("running", 0)


def test_sample_backlog_completes_the_same_way_twice_and_after_repeated_sigkill(tmp_path: Path):
    clean_report = tmp_path / "clean.jsonl"
    done = batch(
        tmp_path / "clean-home", str(SAMPLE), "-o", str(clean_report), "--concurrency", "6"
    )
    assert "120 tickets" in done.stdout
    clean = normalised(clean_report)
    assert [line["id"] for line in clean] == [t.id for t in load_tickets(SAMPLE)]
    assert {line["status"] for line in clean} == {"completed"}
    denied = [t for line in clean for t in line["tools"] if t["status"] == "denied"]
    assert denied and all(
        t["name"] == "run_command" for t in denied
    )  # changes asked for, never run
    assert (tmp_path / "clean.md").read_text().startswith("# Batch report")

    # Each ticket is its own session, so the first 20 tickets give the first 20 lines.
    first_20 = subset(tmp_path, 20)
    again_report = tmp_path / "again.jsonl"
    batch(tmp_path / "again-home", str(first_20), "-o", str(again_report), "--concurrency", "2")
    assert normalised(again_report) == clean[:20]  # reproducible, whatever the interleaving

    # Killed three times, each time once 4 more tickets are done and others are in flight
    # (driven by the run's progress in the store, not by the clock).
    home, report = tmp_path / "killed-home", tmp_path / "killed.jsonl"
    env = {**os.environ, "OPSCOPILOT_HOME": str(home)}
    interrupted = 0
    for kill in range(1, 4):
        process = subprocess.Popen(
            [sys.executable, "-m", "opscopilot", "batch", str(first_20), "-o", str(report), "-q"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                finished, running = progress(home / "opscopilot.db")
                if finished >= 4 * kill and running:
                    break
                assert process.poll() is None, "the run ended before it could be killed"
                time.sleep(0.01)  # polling the store's progress; the kill waits on it, not on time
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        interrupted += progress(home / "opscopilot.db")[1]
    assert interrupted, "no kill caught a ticket in flight"
    assert progress(home / "opscopilot.db")[0] < 20
    batch(home, str(first_20), "-o", str(report))
    assert normalised(report) == clean[:20]

    # No tool ran twice: per turn and tool call at most one run finished; a run cut short by a
    # kill (an intent with no result) was a read, which is the only kind made again.
    with sqlite3.connect(home / "opscopilot.db") as db:
        rows = db.execute("SELECT effect_id, status, payload FROM journal WHERE kind = 'tool_run'")
        runs = [
            (effect.rsplit("-", 1)[0], status, json.loads(payload))
            for effect, status, payload in rows
        ]
    finished = Counter((turn, p["tool_call_id"]) for turn, status, p in runs if status != "intent")
    assert finished and max(finished.values()) == 1
    assert all(p["risk"] == "read" for _turn, status, p in runs if status == "intent")


def test_the_run_cap_stops_admitting_tickets_in_order_and_says_so(tmp_path: Path):
    tickets = subset(tmp_path, 10)
    report = tmp_path / "r.jsonl"
    result = batch(
        tmp_path / "home",
        str(tickets),
        "-o",
        str(report),
        "--max-cost",
        "0.012",
        "--max-cost-per-ticket",
        "0.004",
        check=False,
    )
    assert result.returncode == 4
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [line["id"] for line in lines] == [f"INC-{4101 + i}" for i in range(10)]
    assert sum(line["cost_usd"] for line in lines) <= 0.012 + 1e-9
    statuses = [line["status"] for line in lines]
    assert statuses[:4] == ["completed"] * 4
    assert statuses[-1] in ("cut_off", "skipped")  # refused by the budget, before any spend
    assert lines[-1]["cost_usd"] == 0.0
    assert "budget" in lines[-1]["summary"] or lines[-1]["status"] == "skipped"
