"""An approval requested on host A is pushed to host B (LISTEN/NOTIFY): B's change watch wakes
on the notification, not on a timer, lists it, and decides it; A's watch hears the decision."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from opscopilot.store import ApprovalRecord, Store
from opscopilot.store.notify import Listener

REPO = Path(__file__).resolve().parents[2]


def _request(approval_id: str) -> ApprovalRecord:
    return ApprovalRecord(
        id=approval_id,
        session_id="s1",
        turn_id="t1",
        tool_call_id=f"c-{approval_id}",
        tool="run_command",
        arguments={"command": "systemctl restart nginx"},
        risk="write",
        call_hash=f"h-{approval_id}",
        requested_at=time.time(),
    )


def test_an_approval_from_host_a_is_pushed_to_host_b_which_lists_it(postgres_url: str) -> None:
    host_b = subprocess.Popen(
        [sys.executable, "-m", "tests.store.listen_worker", postgres_url, "3"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert json.loads(host_b.stdout.readline()) == {"ready": True}, host_b.stderr.read()
        sent: dict[str, float] = {}
        with Store.open(postgres_url) as host_a:
            for n in range(3):
                approval_id = f"a{n}"
                sent[approval_id] = time.time()
                host_a.create_approval(_request(approval_id))
                line = json.loads(host_b.stdout.readline())  # B reports it before A goes on
                assert line["id"] == approval_id
                assert line["seen_at"] >= sent[approval_id]
        final = json.loads(host_b.stdout.readline())
        assert final == {"wakeups": 3}  # one wake-up per request: pushed, never polled
        assert host_b.wait(timeout=30) == 0
    finally:
        if host_b.poll() is None:
            host_b.kill()


def test_a_decision_on_host_b_reaches_a_listener_on_host_a(postgres_url: str) -> None:
    with Store.open(postgres_url) as host_a, Listener(postgres_url) as listening:
        host_a.create_approval(_request("a1"))
        assert listening.wait(30.0) == ["changes"]  # its own request, pushed back too
        assert listening.wait(0.05) == []  # nothing else is waiting
        with Store.open(postgres_url) as host_b:
            host_b.decide_approval(
                "a1", decision="approved", operator="bob", host="b", decided_at=time.time()
            )
        assert listening.wait(30.0) == ["changes"]
        assert host_a.get_approval("a1").operator == "bob"


def test_the_watch_on_postgresql_is_pushed_and_a_close_wakes_a_waiter(postgres_url: str) -> None:
    with Store.open(postgres_url) as host_a:
        watch = host_a.watch_changes()
        assert watch.pushed
        waited: list[list] = []
        waiter = threading.Thread(target=lambda: waited.append(watch.wait(600.0)))
        waiter.start()
        with Store.open(postgres_url) as host_b:
            host_b.create_approval(_request("a2"))
        waiter.join(timeout=60)
        assert [(c.kind, c.key) for c in waited[0]] == [("approval.requested", "a2")]
        # A waiter blocked on the socket returns at once when the watch is closed.
        waiter = threading.Thread(target=lambda: waited.append(watch.wait(600.0)))
        waiter.start()
        watch.close()
        waiter.join(timeout=60)
        assert not waiter.is_alive() and waited[1] == []
