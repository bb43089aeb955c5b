"""Caps that hold across hosts: many processes on one PostgreSQL store race past a day cap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opscopilot.governance import Ledger
from opscopilot.governance.ledger import utc_day

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 16
DAY_CAP = 0.02  # about 130 builtin:ops calls of this prompt


def test_sixteen_processes_racing_past_a_day_cap_never_overspend_it(postgres_url: str) -> None:
    with Ledger(postgres_url) as ledger:
        ledger.set_cap("day", DAY_CAP)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.governance.spend_worker", postgres_url],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for worker in workers:  # every process is up and connected before any spends
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    assert [r["errors"] for r in reports] == [[]] * PROCESSES
    assert all(r["refused"] == 1 for r in reports)  # every process was stopped by the cap
    with Ledger(postgres_url) as ledger:
        calls = ledger.calls()
        spent = sum(row.cost_usd or 0 for row in calls)
        assert ledger.spent_today() == pytest.approx(spent)  # nothing is still held
        held = ledger.reserved()
    assert held == 0
    assert len(calls) == sum(r["calls"] + r["cut_off"] for r in reports)
    assert all(not row.estimated and row.day == utc_day(row.created_at) for row in calls)
    # Each call held its cost before it ran, so the calls in flight when the cap was reached
    # were already counted: the day's spend, summed from the ledger, stays within the cap.
    assert spent <= DAY_CAP + 1e-9
    assert spent >= DAY_CAP * 0.8  # and the cap, not something else, is what stopped them
    print(
        f"\n[ledger] {PROCESSES} processes: {len(calls)} calls, "
        f"${spent:.6f} of a ${DAY_CAP} day cap"
    )
