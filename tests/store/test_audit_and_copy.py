"""`audit export` (decisions with who/where, tool runs with their risk, spend per session,
redacted) on both backends, and `store copy` from a single host's SQLite file into an empty
PostgreSQL store without losing a row."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opscopilot.batch.state import BatchState
from opscopilot.governance import Ledger
from opscopilot.store import OwnerIdentity, Store, db
from opscopilot.store.copy import copy_store
from opscopilot.store.ledger import DERIVED_TABLES
from opscopilot.web.operators import Operators
from tests.store import hosts

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-proj-" + "Q" * 32


def _cli(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSCOPILOT_HOME": str(home), "OPSCOPILOT_STORE": url, "USER": "ann"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _export(home: Path, url: str, *args: str) -> tuple[int, str, str]:
    """`opscopilot audit export ARGS` in this process (exit code, stdout, stderr)."""
    from click.testing import CliRunner

    from opscopilot.cli.main import cli

    env = {"OPSCOPILOT_HOME": str(home), "OPSCOPILOT_STORE": url}
    result = CliRunner().invoke(cli, ["audit", "export", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def _work(home: Path, url: str) -> dict[str, str]:
    """A paused turn decided from another terminal and resumed, and a diagnostic that ran."""
    paused = _cli(home, url, "run", f"restart nginx, my key is {SECRET}", "--json")
    assert paused.returncode == 3, paused.stderr
    turn = json.loads(paused.stdout)
    [approval_id] = turn["pending_approvals"]
    denied = _cli(home, url, "approvals", "deny", approval_id, "--reason", f"not with {SECRET}")
    assert denied.returncode == 0, denied.stderr
    assert _cli(home, url, "resume", turn["turn_id"], "--json").returncode == 0
    checked = _cli(home, url, "run", "how full is the disk", "--json")
    assert checked.returncode == 0, checked.stderr
    return {"approval": approval_id, "session": turn["session_id"]}


def test_audit_export_writes_decisions_tool_runs_and_spend_redacted(
    tmp_path: Path, store_url: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    made = _work(home, store_url)
    code, out, err = _export(home, store_url)
    assert code == 0, err
    assert SECRET not in out
    records = [json.loads(line) for line in out.splitlines()]
    [decision] = [r for r in records if r["type"] == "decision"]
    assert decision["id"] == made["approval"] and decision["status"] == "denied"
    assert decision["operator"] == "ann" and decision["host"] and decision["risk"] == "write"
    assert decision["reason"].startswith("not with ") and "[REDACTED]" in decision["reason"]
    if "channel" in decision and decision["channel"] is not None:
        assert decision["channel"] == "cli"
    runs = [r for r in records if r["type"] == "tool_run"]
    assert runs and all(r["risk"] in ("read", "write", "destructive") for r in runs)
    assert {r["status"] for r in runs} >= {"ok", "denied"}
    spend = [r for r in records if r["type"] == "spend"]
    assert made["session"] in {r["session_id"] for r in spend}
    assert all(r["cost_usd"] > 0 and r["calls"] >= 1 for r in spend)

    as_csv = tmp_path / "audit.csv"
    code, _, err = _export(home, store_url, "--format", "csv", "-o", str(as_csv))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(as_csv.read_text())))
    assert len(rows) == len(records) and SECRET not in as_csv.read_text()
    assert {row["type"] for row in rows} == {"decision", "tool_run", "spend"}
    assert _export(home, store_url, "--since", "2999-01-01")[:2] == (0, "")
    code, _, err = _export(home, store_url, "--since", "last tuesday")
    assert code == 2 and "--since" in err


def _counts(url: str) -> dict[str, int]:
    conn = db.open_database(url)
    try:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in conn.tables()
            if table not in ("schema_versions", *DERIVED_TABLES)
        }
    finally:
        conn.close()


def test_store_copy_moves_every_row_of_every_table_into_postgresql(
    tmp_path: Path, postgres_server, postgres_url: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    source = f"sqlite:///{tmp_path / 'single-host.db'}"
    _work(home, source)
    with Store.open(source) as store:
        store.add_allow_rule("s-x", tool="run_command", command="df -h", created_at=1.0)
        # An owner that never released its turn (a process that died): copied like the rest.
        store.claim_turn("t-gone", OwnerIdentity(kind="run", host="elsewhere"), now=1.0)
    with Ledger(source) as ledger:
        ledger.set_cap("day", 5.0)
    state = BatchState(source, "b-1")
    state.open_run(tmp_path / "t.jsonl", tmp_path / "r.jsonl", {}, ["T-1", "T-2"], 1.0)
    state.close()
    operators = Operators(source)
    operators.add("alice", now=1.0)
    operators.close()
    before = _counts(source)
    assert all(before.values()), before  # every table holds rows, so the copy proves each

    # The template database already holds the tables; a copy needs them empty, not absent.
    # It goes in through the server's Unix socket (a URL with `?host=/socket/dir`), and is
    # read back over TCP: one database, two ways to reach it.
    through_socket = hosts.socket_url(postgres_server, postgres_url)
    counts = copy_store(source, through_socket)
    assert {c.table: c.source for c in counts} == before
    assert all(c.equal for c in counts)
    assert _counts(postgres_url) == before

    with Ledger(source) as old_ledger, Ledger(postgres_url) as new_ledger:
        days = {row.day for row in old_ledger.calls()}
        assert days and all(
            new_ledger.spent("day", day) == pytest.approx(old_ledger.spent("day", day))
            for day in days
        )  # the running totals are rebuilt on the destination from the copied calls
    with Store.open(source) as old, Store.open(postgres_url) as new:
        assert [e for _, e in old.events()] == [e for _, e in new.events()]
        assert old.list_approvals(status=None) == new.list_approvals(status=None)
        assert [t.id for t in old.list_sessions()] == [t.id for t in new.list_sessions()]
        session = old.list_sessions()[0].id
        assert [t.id for t in old.list_turns(session)] == [t.id for t in new.list_turns(session)]
        # Generated ids continue after the copied ones.
        rule = new.add_allow_rule("s-y", tool="read_file", created_at=2.0)
        assert rule > max(r.id for r in old.list_allow_rules("s-x"))
    with Ledger(source) as old_ledger, Ledger(postgres_url) as new_ledger:
        assert old_ledger.calls() == new_ledger.calls()
        assert new_ledger.stored_caps() == {"day": 5.0}

    again = _cli(home, source, "store", "copy", source, through_socket)
    assert again.returncode == 1 and "not empty" in again.stderr
    doctor = _cli(home, through_socket, "doctor")
    assert f"ok    store    postgresql {through_socket} (PostgreSQL" in doctor.stdout, doctor.stdout
