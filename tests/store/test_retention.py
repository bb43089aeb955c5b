"""Retention on a real store, through the real commands: `opscopilot store prune` removes
old turns' event streams, snapshots and journal, and keeps the ledger, the audit trail and
every turn that may still move; on both backends (a SQLite file, a PostgreSQL server)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from opscopilot.store import db

TOMORROW = "2999-01-01"  # a cutoff after everything this test makes


def cli(home: Path, *args: str, store: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSCOPILOT_HOME": str(home)}
    if store is not None:
        env["OPSCOPILOT_STORE"] = store
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args], capture_output=True, text=True, env=env
    )


def json_of(home: Path, *args: str, store: str | None = None) -> dict:
    done = cli(home, *args, "--json", store=store)
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def rows(store: str, table: str, turn_id: str) -> int:
    """What is really in the table, read behind the commands' back."""
    conn = db.open_database(store)
    try:
        sql = f"SELECT COUNT(*) FROM {table} WHERE turn_id = ?"
        return int(conn.execute(sql, [turn_id]).fetchone()[0])
    finally:
        conn.close()


def feed(file: Path) -> tuple[int, int]:
    """How many change-feed rows a SQLite store has, and the lowest seq (else the highest
    ever given)."""
    with sqlite3.connect(file) as db:
        count, lowest = db.execute("SELECT COUNT(*), MIN(seq) FROM changes").fetchone()
        if lowest is None:
            lowest = db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'changes'"
            ).fetchone()[0]
        return count, lowest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_prune_keeps_the_ledger_the_decisions_and_live_turns_and_the_store_still_works(
    home: Path, store_url: str
) -> None:
    op, op_json = partial(cli, home, store=store_url), partial(json_of, home, store=store_url)
    finished = op_json("run", "how full is the disk?")
    assert finished["status"] == "completed"
    decided = op_json("run", "restart nginx")
    (approval_id,) = decided["pending_approvals"]
    assert op("approvals", "deny", approval_id, "--reason", "not in hours").returncode == 0
    assert op_json("resume", decided["turn_id"])["status"] in ("completed", "denied")
    live = op_json("run", "restart nginx")
    assert live["status"] == "awaiting_approval"

    day_total = op_json("budget", "show")["spent_today_usd"]
    audit = op_json("approvals", "show", approval_id)
    assert audit["status"] == "denied" and audit["decision_reason"] == "not in hours"
    for turn in (finished["turn_id"], decided["turn_id"]):
        assert rows(store_url, "events", turn) and rows(store_url, "journal", turn)
    live_events = rows(store_url, "events", live["turn_id"])
    file = Path(store_url.removeprefix("sqlite:///")) if store_url.startswith("sqlite") else None
    size_before = file.stat().st_size if file else 0
    feed_before = feed(file) if file else None
    assert feed_before is None or feed_before[0] > 0

    pruned = op_json("store", "prune", "--before", TOMORROW, "--vacuum")
    assert (pruned["turns"], pruned["kept_live"], pruned["vacuumed"]) == (2, 1, True)
    if feed_before is not None and file is not None:  # the feed is for wake-ups
        assert pruned["changes"] == feed_before[0] and feed(file)[0] == 0
    assert pruned["events"] > 0 and pruned["journal"] > 0 and pruned["snapshots"] == 2
    for turn in (finished["turn_id"], decided["turn_id"]):
        assert not rows(store_url, "events", turn) and not rows(store_url, "journal", turn)
        assert not rows(store_url, "snapshots", turn)
    assert rows(store_url, "events", live["turn_id"]) == live_events
    assert rows(store_url, "snapshots", live["turn_id"]) == 1
    if file is not None:  # PostgreSQL's VACUUM keeps the space for the table's reuse
        assert file.stat().st_size < size_before

    # What the operator keeps: the day's spend, the decision and who made it, the turns.
    assert op_json("budget", "show")["spent_today_usd"] == day_total
    assert op_json("approvals", "show", approval_id) == audit
    session = op_json("sessions", "show", finished["session_id"])
    assert session["turns"][0]["status"] == "completed" and session["turns"][0]["text"]

    # The pruned store still opens (migrations run) and the live turn resumes and finishes.
    edited = json.dumps({"command": "uptime"})
    assert (
        op("approvals", "approve", live["pending_approvals"][0], "--args", edited).returncode == 0
    )
    resumed = op_json("resume", live["turn_id"])
    assert resumed["status"] == "completed"
    if feed_before is not None and file is not None:  # seqs go on: a watch's `after` holds
        count, first_seq = feed(file)
        assert count > 0 and first_seq > feed_before[1]
    assert [c["status"] for c in resumed["tool_calls"]] == ["ok"]

    again = op_json("store", "prune", "--before", TOMORROW)
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
