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

    pruned = json_of(home, "store", "prune", "--before", TOMORROW, "--vacuum")
    assert (pruned["turns"], pruned["kept_live"], pruned["vacuumed"]) == (2, 1, True)
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
