from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from opscopilot.store import ApprovalRecord, Store
from tests.store.raw import raw_rows

WORKERS = 4
SHARED = 40
REPO = Path(__file__).resolve().parents[2]


def test_four_processes_append_and_decide_at_once_without_lock_errors_or_lost_writes(
    store_url: str,
) -> None:
    with Store.open(store_url) as store:
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
                store_url,
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

    with Store.open(store_url) as store:
        for report in reports:
            rows = raw_rows(
                store,
                "SELECT data FROM events WHERE turn_id = ? ORDER BY seq",
                [f"turn-{report['worker']}"],
            )
            texts = [json.loads(row[0])["text"] for row in rows]
            # Exact count, and each process's events in the order it appended them.
            assert texts == [f"{report['worker']}:{i}" for i in range(report["events"])]
            decided_by = raw_rows(
                store, "SELECT COUNT(*) FROM approvals WHERE operator = ?", [report["worker"]]
            )[0][0]
            assert decided_by == len(report["won"])
        turns = raw_rows(store, "SELECT COUNT(*) FROM turns")[0][0]
        assert turns == sum(r["turns"] for r in reports)
        decided = raw_rows(store, "SELECT COUNT(*) FROM approvals WHERE status = 'approved'")
        assert decided[0][0] == SHARED
    print(
        f"\n[store] {WORKERS} processes: {sum(r['events'] for r in reports)} events, "
        f"{SHARED} approvals decided once each, {turns} turns"
    )
