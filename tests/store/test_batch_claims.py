"""Batch claims and leases on both backends: each ticket to one worker, a dead worker's
tickets to the others, only the lease holder records an outcome, the run's cap shared."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from opscopilot.store.batch import BatchState, Item, RunMismatch, Worker, named_run_key

IDS = [f"T-{n}" for n in range(6)]


def state(url: str, name: str, *, host: str | None = None, pid: int | None = None) -> BatchState:
    worker = Worker(name, host=host or socket.gethostname(), pid=pid or 0)
    return BatchState(url, named_run_key("night"), worker)


def opened(url: str, name: str, ids: list[str] = IDS, **kw) -> BatchState:
    s = state(url, name, **kw)
    s.open_run(Path("t.jsonl"), Path("r.jsonl"), {"model": "m"}, ids, 0.0, name="night")
    return s


def line(ticket_id: str, status: str = "completed", cost: float = 0.001) -> dict:
    return {"id": ticket_id, "status": status, "cost_usd": cost, "summary": "ok"}


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_two_workers_claim_every_ticket_once_in_ticket_order(store_url: str):
    a, b = opened(store_url, "w-a"), opened(store_url, "w-b")
    claimed = []
    for worker in [a, b, a, a, b, b]:
        item = worker.claim()
        assert isinstance(item, Item)
        claimed.append((worker.worker.worker_id, item.ticket_id))
    assert [ticket for _w, ticket in claimed] == IDS
    assert a.claim() is None and b.claim() is None
    assert a.open_elsewhere() == 3 and b.open_elsewhere() == 3
    for worker_id, ticket_id in claimed:
        owner = a if worker_id == "w-a" else b
        other = b if owner is a else a
        assert other.finished(ticket_id, line(ticket_id), 1.0) is None  # not the holder
        assert owner.finished(ticket_id, line(ticket_id), 1.0) is not None
    assert a.open_count() == 0
    assert a.completed_by() == claimed[-1][0]  # whoever settled the last open ticket
    assert [o["id"] for o in a.outcomes()] == IDS
    a.close()
    b.close()


def test_racing_workers_never_claim_a_ticket_twice(store_url: str):
    ids = [f"R-{n}" for n in range(60)]
    opened(store_url, "w-setup", ids).close()
    got: dict[str, list[str]] = {}

    def work(name: str) -> None:
        mine = got.setdefault(name, [])
        s = state(store_url, name)
        try:
            while isinstance(item := s.claim(), Item):
                mine.append(item.ticket_id)
                assert s.finished(item.ticket_id, line(item.ticket_id), 1.0) is not None
        finally:
            s.close()

    threads = [threading.Thread(target=work, args=(f"w-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = sorted(t for mine in got.values() for t in mine)
    assert every == sorted(ids)
    final = state(store_url, "w-check")
    assert final.open_count() == 0 and final.totals().reserved_usd == 0
    final.close()


def test_a_worker_whose_lease_runs_out_loses_its_ticket_and_cannot_report_it(store_url: str):
    far = opened(store_url, "w-far", IDS[:2], host="another-host")
    near = opened(store_url, "w-near", IDS[:2])
    held = far.claim(lease_s=0.3)
    assert isinstance(held, Item) and held.ticket_id == "T-0"
    assert far.started("T-0", "s-night-T-0")
    assert far.renew(lease_s=0.3) == {"T-0"}
    taken = near.claim()
    assert isinstance(taken, Item) and taken.ticket_id == "T-1"  # T-0 is still held
    assert near.finished("T-1", line("T-1"), 1.0) == 1
    while (again := near.claim()) is None:  # polls the store until the lease runs out
        pass
    assert isinstance(again, Item)
    assert (again.ticket_id, again.takeover, again.session_id) == ("T-0", True, "s-night-T-0")
    assert far.renew() == set()  # told it holds nothing any more
    assert not far.started("T-0", "s-night-T-0")  # so it must not start a turn for it
    assert far.finished("T-0", line("T-0", cost=9.0), 2.0) is None  # its late outcome dropped
    assert near.finished("T-0", line("T-0"), 2.0) == 2
    assert {o["id"]: o["cost_usd"] for o in near.outcomes()} == {"T-0": 0.001, "T-1": 0.001}
    assert near.workers() == {"T-0": "w-near", "T-1": "w-near"}
    far.close()
    near.close()


def test_a_dead_process_on_this_host_gives_its_ticket_up_at_once(store_url: str):
    gone = opened(store_url, "w-gone", IDS[:1], pid=dead_pid())
    assert isinstance(gone.claim(lease_s=3600), Item)
    other = opened(store_url, "w-other", IDS[:1])
    item = other.claim()
    assert isinstance(item, Item) and item.takeover
    gone.close()
    other.close()


def test_a_dead_pid_from_another_pid_space_of_the_same_hostname_waits_for_the_lease(
    store_url: str,
):
    """A cloned machine or a container with pid namespace of its own may share the hostname:
    its pids are not this host's to check, so its live worker keeps its ticket."""
    from opscopilot.store.pidspace import pid_space

    here = pid_space()  # this host's name, boot and pid namespace: what a worker records
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    namespace = os.stat("/proc/self/ns/pid").st_ino
    assert Worker("w-default").host == here == f"{socket.gethostname()}/{boot}/{namespace}"
    twin_host = f"{socket.gethostname()}/another-boot/1"
    twin = opened(store_url, "w-twin", IDS[:2], host=twin_host, pid=dead_pid())
    assert isinstance(twin.claim(lease_s=3600), Item)
    local = opened(store_url, "w-local", IDS[:2], host=here)
    item = local.claim()
    assert isinstance(item, Item) and (item.ticket_id, item.takeover) == ("T-1", False)
    assert local.claim() is None  # T-0's lease has an hour to go
    twin.close()
    local.close()


def test_the_run_cap_admits_in_ticket_order_across_workers(store_url: str):
    a, b = opened(store_url, "w-a", IDS[:4]), opened(store_url, "w-b", IDS[:4])
    cap = {"reservation": 0.4, "run_cap": 1.0}
    first, second = a.claim(**cap), b.claim(**cap)
    assert isinstance(first, Item) and isinstance(second, Item)
    assert b.claim(**cap) == "wait"  # 0.2 left, 0.8 reserved by the two in flight
    assert b.finished(second.ticket_id, line(second.ticket_id), 1.0, spent_usd=0.3) == 1
    assert a.claim(**cap) == "wait"  # 1.0 - 0.3 - 0.4 = 0.3 < 0.4, one still in flight
    assert a.finished(first.ticket_id, line(first.ticket_id), 1.0, spent_usd=0.3) == 2
    last = a.claim(**cap)  # nothing in flight: the rest of the cap, 0.4 covers it
    assert isinstance(last, Item) and last.reservation == pytest.approx(0.4)
    assert a.finished(last.ticket_id, line(last.ticket_id), 1.0, spent_usd=0.4) == 3
    skipped = b.claim(**cap)
    assert isinstance(skipped, Item) and skipped.skip  # nothing left, nothing in flight
    totals = a.totals()
    assert totals.settled_usd == pytest.approx(1.0) and totals.reserved_usd == pytest.approx(0)
    a.close()
    b.close()


def test_a_paused_ticket_is_continued_by_one_worker_only(store_url: str):
    a, b = opened(store_url, "w-a", IDS[:1]), opened(store_url, "w-b", IDS[:1])
    item = a.claim()
    assert isinstance(item, Item)
    a.finished(item.ticket_id, line(item.ticket_id, "awaiting_approval"), 1.0, spent_usd=0.2)
    assert [i.ticket_id for page in b.paused() for i in page] == ["T-0"]
    assert a.totals().settled_usd == pytest.approx(0.2)
    continued = b.claim_paused("T-0", reservation=0.5, run_cap=1.0)
    assert isinstance(continued, Item) and continued.status == "paused"
    assert a.claim_paused("T-0") is None
    assert a.totals().settled_usd == pytest.approx(0) and a.totals().reserved_usd == 0.5
    assert b.finished("T-0", line("T-0"), 2.0, spent_usd=0.3) == 1
    assert a.totals().settled_usd == pytest.approx(0.3)
    a.close()
    b.close()


def test_a_named_run_is_joined_only_with_the_same_tickets(store_url: str):
    opened(store_url, "w-a").close()
    with pytest.raises(RunMismatch, match="started with other tickets"):
        opened(store_url, "w-b", IDS[:3])


def test_workers_opening_one_run_at_once_all_join_it(store_url: str):
    created: list[bool] = []

    def join(name: str) -> None:
        s = state(store_url, name)
        try:
            created.append(s.open_run(Path("t.jsonl"), Path("r.jsonl"), {}, IDS, 0.0, name="night"))
        finally:
            s.close()

    threads = [threading.Thread(target=join, args=(f"w-{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created) == [False] * 5 + [True]
