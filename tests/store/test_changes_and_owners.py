"""The change feed (a watch another process's commit wakes) and turn ownership (one live owner,
a heartbeat, stale owners taken over), on both backends (a real SQLite file, a real
PostgreSQL server) and real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from opscopilot.store import ApprovalRecord, OwnerIdentity, Store, TurnOwnedError
from opscopilot.store.owners import LEASE_S, owner_alive
from opscopilot.store.pidspace import pid_space

ROOT = Path(__file__).resolve().parents[2]


def _turn_with_approval(store: Store, approval_id: str = "a1") -> ApprovalRecord:
    now = time.time()
    store.create_session("s1", "builtin:ops", "title", now)
    store.create_turn("t1", "s1", "restart nginx", "builtin:ops", now)
    return store.create_approval(
        ApprovalRecord(
            id=approval_id,
            session_id="s1",
            turn_id="t1",
            tool_call_id="c1",
            tool="run_command",
            arguments={"command": "systemctl restart nginx"},
            risk="write",
            call_hash="h",
            requested_at=now,
        )
    )


def _cli(*args: str, home: Path, store: Store) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPSCOPILOT_HOME=str(home), PYTHONPATH=str(ROOT), USER="dana")
    env["OPSCOPILOT_STORE"] = store.location.url or f"sqlite:///{store.location.path}"
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_decision_from_another_process_wakes_the_watch_and_says_who_and_where(
    store: Store, isolated_home: Path
) -> None:
    _turn_with_approval(store)
    with store.watch_changes() as watch:
        assert watch.poll() == []  # nothing since the watch began
        decided = _cli("approvals", "approve", "a1", home=isolated_home, store=store)
        assert decided.returncode == 0, decided.stderr
        changes = watch.wait(timeout=30)
    assert [(c.kind, c.key, c.turn_id) for c in changes] == [("approval.decided", "a1", "t1")]
    record = store.get_approval("a1")
    assert record is not None
    assert (record.operator, record.host, record.channel) == ("dana", socket.gethostname(), "cli")
    assert "continue the turn with: opscopilot resume t1" in decided.stdout


def test_the_watch_reads_only_what_is_new_and_nothing_while_the_database_is_still(
    store: Store,
) -> None:
    _turn_with_approval(store)
    watch = store.watch_changes(after=0)
    try:
        first = watch.poll()
        assert [c.kind for c in first] == ["approval.requested"]
        assert watch.poll() == []  # data_version did not move: no table read at all
        store.update_turn("t1", status="calling_model", updated_at=time.time())
        moved = watch.poll()
        assert [(c.kind, c.key) for c in moved] == [("turn.updated", "t1")]
        assert store.changes_since(0)[-1].seq == moved[-1].seq == store.last_change_seq()
    finally:
        watch.close()


def test_an_async_wait_is_woken_by_a_commit_and_times_out_empty(store: Store) -> None:
    _turn_with_approval(store)

    async def main() -> tuple[list, list]:
        watch = store.watch_changes()
        try:
            quiet = await watch.next(timeout=0.1)
            async with anyio.create_task_group() as group:

                async def decide() -> None:
                    await anyio.to_thread.run_sync(
                        lambda: store.decide_approval(
                            "a1",
                            decision="denied",
                            operator="eve",
                            host="h2",
                            reason="no",
                            decided_at=time.time(),
                            channel="web",
                        )
                    )

                group.start_soon(decide)
                woken = await watch.next(timeout=30)
            return quiet, woken
        finally:
            watch.close()

    quiet, woken = anyio.run(main)
    assert quiet == []
    assert [c.kind for c in woken] == ["approval.decided"]
    assert store.get_approval("a1").channel == "web"  # type: ignore[union-attr]


def test_one_live_owner_at_a_time_and_the_refusal_names_the_owner(store: Store) -> None:
    _turn_with_approval(store)
    tui = OwnerIdentity(kind="tui", operator="ann")
    resume = OwnerIdentity(kind="resume")
    now = time.time()
    store.claim_turn("t1", tui, now=now)
    store.claim_turn("t1", tui, now=now + 1)  # the owner itself renews
    with pytest.raises(TurnOwnedError) as refused:
        store.claim_turn("t1", resume, now=now + 1)
    assert refused.value.owner.owner_id == tui.owner_id
    assert refused.value.kind == "conflict"
    message = str(refused.value)
    assert "tui by ann" in message and f"pid {os.getpid()}" in message
    assert socket.gethostname() in message
    assert store.release_turn("t1", resume.owner_id, now=now) is False  # not its to release
    assert store.release_turn("t1", tui.owner_id, now=now) is True
    store.claim_turn("t1", resume, now=now + 2)
    assert store.turn_owner("t1").kind == "resume"  # type: ignore[union-attr]


def test_an_owner_without_a_heartbeat_within_the_lease_is_taken_over(store: Store) -> None:
    _turn_with_approval(store)
    first = OwnerIdentity(kind="tui")
    second = OwnerIdentity(kind="resume")
    start = time.time()
    store.claim_turn("t1", first, now=start)
    assert store.heartbeat(first.owner_id, now=start + 4) == 1
    with pytest.raises(TurnOwnedError):
        store.claim_turn("t1", second, now=start + 8)  # 4 s after the last beat: alive
    assert store.live_owner("t1", now=start + 20) is None  # silent for 16 s: stale
    store.claim_turn("t1", second, now=start + 20)
    assert store.heartbeat(first.owner_id, now=start + 21) == 0  # the old owner lost it


def test_an_owner_whose_process_died_on_this_host_is_stale_at_once(store: Store) -> None:
    _turn_with_approval(store)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    dead = OwnerIdentity(kind="run", pid=gone.pid)
    now = time.time()
    owner = store.claim_turn("t1", dead, now=now)
    assert not owner_alive(owner, now)
    store.claim_turn("t1", OwnerIdentity(kind="resume"), now=now)  # no wait for the lease
    # On another host the pid means nothing here: only the heartbeat says it is alive.
    elsewhere = store.claim_turn(
        "t1", OwnerIdentity(kind="run", pid=gone.pid, host="another-host"), now=now + 10
    )
    assert owner_alive(elsewhere, now + 11)
    assert not owner_alive(elsewhere, now + 20)


def test_a_dead_pid_under_this_hostname_but_another_pid_space_waits_for_the_lease(
    store: Store,
) -> None:
    """A clone of this machine, or a container with its own pid namespace, has the same
    hostname: its owner's pid says nothing here, so only its heartbeat can make it stale."""
    _turn_with_approval(store)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    assert OwnerIdentity(kind="tui").host == pid_space()
    twin = f"{socket.gethostname()}/another-boot/1"
    now = time.time()
    owner = store.claim_turn("t1", OwnerIdentity(kind="tui", pid=gone.pid, host=twin), now=now)
    assert owner_alive(owner, now + 1)  # its process may well be alive over there
    with pytest.raises(TurnOwnedError) as refused:
        store.claim_turn("t1", OwnerIdentity(kind="resume"), now=now + 1)
    assert f"on {socket.gethostname()}," in str(refused.value)  # the hostname, not the space
    assert "another-boot" not in str(refused.value)
    assert not owner_alive(owner, now + 1 + LEASE_S)
    store.claim_turn("t1", OwnerIdentity(kind="resume"), now=now + 1 + LEASE_S)


def test_the_event_tail_wakes_on_another_connections_events_of_the_asked_sessions(
    store: Store,
) -> None:
    from opscopilot.events import Notice

    now = time.time()
    tail = store.tail_events()
    try:
        assert tail.poll(["s1"]) == []

        async def main() -> list:
            async with anyio.create_task_group() as group:

                def elsewhere() -> None:  # another connection, as another process's would be
                    with Store.open(store.location) as other:
                        for session in ("s2", "s1"):
                            other.append_event(
                                Notice(ts=now, session_id=session, turn_id="t", message=session)
                            )

                group.start_soon(anyio.to_thread.run_sync, elsewhere)
                return await tail.next(["s1"], timeout=60)

        stored = anyio.run(main)
        assert [event.message for _, event in stored] == ["s1"]  # type: ignore[attr-defined]
        assert tail.poll(["s1"]) == []  # each event is handed over once
    finally:
        tail.close()
