from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from opscopilot.store import ApprovalRecord, Store

WORKERS = 4
SHARED = 40
REPO = Path(__file__).resolve().parents[2]


def test_four_processes_append_and_decide_at_once_without_lock_errors_or_lost_writes(
    db_path: Path,
) -> None:
    with Store.open(db_path) as store:
        store.create_session("s1", "builtin:ops", "shared", 1.0)
        for i in range(SHARED):
            store.create_approval(
                ApprovalRecord(
                    id=f"a{i}",
                    session_id="s1",
                    turn_id="t1",
                    tool_call_id=f"c{i}",
                    tool="run_command",
                    arguments={"command": f"echo {i}"},
                    risk="write",
                    call_hash=f"h{i}",
                    requested_at=1.0,
                )
            )
    start_at = time.time() + 1.5  # every interpreter is up before anyone starts
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.store.concurrent_worker",
                str(db_path),
                f"w{n}",
                str(start_at),
                "2.0",
                str(SHARED),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WORKERS)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))

    assert [r["errors"] for r in reports] == [[]] * WORKERS
    won = [approval for r in reports for approval in r["won"]]
    assert sorted(won) == sorted(f"a{i}" for i in range(SHARED))  # each decided exactly once
    assert sum(r["conflicts"] for r in reports) == SHARED * (WORKERS - 1)
    intents = [effect for r in reports for effect in r["intents"]]
    assert sorted(intents) == sorted(f"e{i}" for i in range(SHARED))

    conn = sqlite3.connect(db_path)
    for report in reports:
        texts = [
            row[0]
            for row in conn.execute(
                "SELECT json_extract(data, '$.text') FROM events WHERE turn_id = ? ORDER BY seq",
                [f"turn-{report['worker']}"],
            )
        ]
        # Exact count, and each process's events in the order it appended them.
        assert texts == [f"{report['worker']}:{i}" for i in range(report["events"])]
        decided_by = conn.execute(
            "SELECT COUNT(*) FROM approvals WHERE operator = ?", [report["worker"]]
        ).fetchone()[0]
        assert decided_by == len(report["won"])
    turns = conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
    assert turns == sum(r["turns"] for r in reports)
    decided = conn.execute("SELECT COUNT(*) FROM approvals WHERE status = 'approved'").fetchone()[0]
    assert decided == SHARED
    conn.close()
    print(
        f"\n[store] {WORKERS} processes: {sum(r['events'] for r in reports)} events, "
        f"{SHARED} approvals decided once each, {turns} turns"
    )
