from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from opscopilot.store import ApprovalRecord, Store

REPO = Path(__file__).resolve().parents[2]


def test_kill_9_keeps_journal_snapshot_decision_and_the_events_before_them(
    db_path: Path,
) -> None:
    with Store.open(db_path) as store:
        store.create_approval(
            ApprovalRecord(
                id="a1",
                session_id="s1",
                turn_id="t1",
                tool_call_id="c1",
                tool="run_command",
                arguments={"command": "uptime"},
                risk="write",
                call_hash="h",
                requested_at=1.0,
            )
        )
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.crash_worker", str(db_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    with Store.open(db_path) as store:
        assert store.journal_entry("e1").status == "intent"
        assert store.load_snapshot("t1") == {"state": "running_tools"}
        assert store.get_approval("a1").status == "approved"
        messages = [e.message for _, e in store.events(turn_id="t1") if e.type == "notice"]
    assert messages[:1000] == [f"before-{i}" for i in range(1000)]
    streamed_after = messages[1000:]
    # What the kill could cost is the tail still queued in memory, never a hole in the middle.
    assert streamed_after == [f"after-{i}" for i in range(len(streamed_after))]
