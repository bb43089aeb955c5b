"""Retention on a real store, through the real commands: `opscopilot store prune` removes
old turns' event streams, snapshots and journal, and keeps the ledger, the audit trail and
every turn that may still move."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

TOMORROW = "2999-01-01"  # a cutoff after everything this test makes


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSCOPILOT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args], capture_output=True, text=True, env=env
    )


def json_of(home: Path, *args: str) -> dict:
    done = cli(home, *args, "--json")
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def rows(home: Path, table: str, turn_id: str) -> int:
    with sqlite3.connect(home / "opscopilot.db") as db:
        return db.execute(f"SELECT COUNT(*) FROM {table} WHERE turn_id = ?", [turn_id]).fetchone()[
            0
        ]


def feed(home: Path) -> tuple[int, int]:
    """How many change-feed rows there are, and the lowest seq (else the highest ever given)."""
    with sqlite3.connect(home / "opscopilot.db") as db:
        count, lowest = db.execute("SELECT COUNT(*), MIN(seq) FROM changes").fetchone()
        if lowest is None:
            lowest = db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'changes'"
            ).fetchone()[0]
        return count, lowest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_prune_keeps_the_ledger_the_decisions_and_live_turns_and_the_store_still_works(home):
    finished = json_of(home, "run", "how full is the disk?")
    assert finished["status"] == "completed"
    decided = json_of(home, "run", "restart nginx")
    (approval_id,) = decided["pending_approvals"]
    assert cli(home, "approvals", "deny", approval_id, "--reason", "not in hours").returncode == 0
    assert json_of(home, "resume", decided["turn_id"])["status"] in ("completed", "denied")
    live = json_of(home, "run", "restart nginx")
    assert live["status"] == "awaiting_approval"

    day_total = json_of(home, "budget", "show")["spent_today_usd"]
    audit = json_of(home, "approvals", "show", approval_id)
    assert audit["status"] == "denied" and audit["decision_reason"] == "not in hours"
    for turn in (finished["turn_id"], decided["turn_id"]):
        assert rows(home, "events", turn) and rows(home, "journal", turn)
    live_events = rows(home, "events", live["turn_id"])
    size_before = (home / "opscopilot.db").stat().st_size
    feed_before = feed(home)
    assert feed_before[0] > 0

    pruned = json_of(home, "store", "prune", "--before", TOMORROW, "--vacuum")
    assert (pruned["turns"], pruned["kept_live"], pruned["vacuumed"]) == (2, 1, True)
    assert pruned["changes"] == feed_before[0] and feed(home)[0] == 0  # the feed is for wake-ups
    assert pruned["events"] > 0 and pruned["journal"] > 0 and pruned["snapshots"] == 2
    for turn in (finished["turn_id"], decided["turn_id"]):
        assert not rows(home, "events", turn) and not rows(home, "journal", turn)
        assert not rows(home, "snapshots", turn)
    assert rows(home, "events", live["turn_id"]) == live_events
    assert rows(home, "snapshots", live["turn_id"]) == 1
    assert (home / "opscopilot.db").stat().st_size < size_before

    # What the operator keeps: the day's spend, the decision and who made it, the turns.
    assert json_of(home, "budget", "show")["spent_today_usd"] == day_total
    assert json_of(home, "approvals", "show", approval_id) == audit
    session = json_of(home, "sessions", "show", finished["session_id"])
    assert session["turns"][0]["status"] == "completed" and session["turns"][0]["text"]

    # The pruned store still opens (migrations run) and the live turn resumes and finishes.
    edited = json.dumps({"command": "uptime"})
    assert (
        cli(home, "approvals", "approve", live["pending_approvals"][0], "--args", edited).returncode
        == 0
    )
    resumed = json_of(home, "resume", live["turn_id"])
    assert resumed["status"] == "completed"
    count, first_seq = feed(home)
    assert count > 0 and first_seq > feed_before[1]  # seqs go on: a watch's `after` still holds
    assert [c["status"] for c in resumed["tool_calls"]] == ["ok"]

    again = json_of(home, "store", "prune", "--before", TOMORROW)
    assert (again["turns"], again["kept_live"]) == (1, 0)  # only the turn that just finished


def test_keep_days_is_the_default_cutoff_and_a_bad_one_is_one_line(home):
    assert json_of(home, "run", "how full is the disk?")["status"] == "completed"
    nothing = cli(home, "store", "prune")
    assert nothing.returncode == 2 and "[store] keep_days" in nothing.stderr
    (home / "config.toml").write_text("[store]\nkeep_days = 30\n")
    kept = json_of(home, "store", "prune")
    assert kept["turns"] == 0  # everything is younger than 30 days
    (home / "config.toml").write_text("[store]\nkeep_days = 0.000001\n")  # a tenth of a second
    assert json_of(home, "store", "prune")["turns"] == 1
    (home / "config.toml").write_text("[store]\nkeep_days = 'soon'\n")
    bad = cli(home, "store", "prune")
    assert bad.returncode == 2 and "keep_days must be a positive number" in bad.stderr
    assert cli(home, "store", "prune", "--before", "yesterday").returncode == 2


def _feed_rows_at(store, ages_s: list[float], now: float) -> None:
    """One approval request (a change-feed row) per age, written as if that long ago."""
    from opscopilot.store import ApprovalRecord

    store.create_session("s1", "builtin:ops", "title", now)
    store.create_turn("t1", "s1", "restart nginx", "builtin:ops", now)
    for n, age in enumerate(ages_s):
        store.create_approval(
            ApprovalRecord(
                id=f"a{n}",
                session_id="s1",
                turn_id="t1",
                tool_call_id=f"c{n}",
                tool="run_command",
                arguments={"command": "uptime"},
                risk="read",
                call_hash="h",
                requested_at=now - age,
            )
        )


def test_the_feed_is_trimmed_to_its_last_minutes_and_a_watch_keeps_hearing(isolated_home: Path):
    import time

    from opscopilot.store import Store
    from opscopilot.store.retention import FEED_KEEP_S

    now = time.time()
    with Store.open() as store:
        _feed_rows_at(store, [FEED_KEEP_S * 6, FEED_KEEP_S * 2, 5.0, 0.0], now)
        with store.watch_changes() as watch:
            assert store.trim_changes(now) == 2
            assert [c.key for c in store.changes_since(0)] == ["a2", "a3"]
            store.decide_approval(
                "a3", decision="denied", operator="dana", host="h", decided_at=now
            )
            assert [(c.kind, c.key) for c in watch.wait(timeout=30)] == [("approval.decided", "a3")]
        assert store.trim_changes(now) == 0


def test_a_live_runtime_trims_an_old_feed_from_its_presence_thread(isolated_home: Path):
    import time

    from opscopilot.runtime.presence import Presence
    from opscopilot.store import OwnerIdentity, Store
    from opscopilot.store.retention import FEED_KEEP_S

    now = time.time()
    with Store.open() as store:
        _feed_rows_at(store, [FEED_KEEP_S * 3] * 50 + [1.0], now)
        presence = Presence(store, OwnerIdentity(kind="run", operator="dana"))
        try:
            presence.claim("t1")  # the first claim starts the thread, which trims at once
            deadline = time.monotonic() + 60
            while len(store.changes_since(0)) > 2:  # a0..a49 go; a50 and the claim stay
                assert time.monotonic() < deadline, "the presence thread did not trim"
                time.sleep(0.02)  # polling the store's progress, not timing the thread
        finally:
            presence.close()
        kinds = [(c.kind, c.key) for c in store.changes_since(0)]
        assert kinds[:2] == [("approval.requested", "a50"), ("owner.claimed", "t1")]
