"""What a staying-up batch run (`--wait`) waits on: its paused tickets' approvals, heard
through the store's change feed (as `run --wait` hears them), not re-read on a short timer.

A run that waits wakes when the feed says one of its approvals was decided (from any
terminal, the web page or another host: `PRAGMA data_version` on SQLite, LISTEN/NOTIFY on
PostgreSQL), at the earliest deadline among them (with `on_expiry = "deny"` the continued
turn then records the expiry as a denial), when a ticket of its own in flight is reported,
or after `RECHECK_S` in case a wake-up was missed; then it also takes up the run's tickets
that other workers paused meanwhile (`--run NAME`). With `on_expiry = "keep"` a lapsed
approval still waits for a person: nothing acts on its deadline, so its ticket stays paused
(rerun or staying up) until someone decides it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from typing import TYPE_CHECKING, Any, Protocol

import anyio

if TYPE_CHECKING:
    from opscopilot.batch.state import Item
    from opscopilot.store import ApprovalRecord, ChangeWatch

RECHECK_S = 5.0  # a staying-up run looks again this often even if no wake-up came

ContinueTicket = Callable[[str], Awaitable[None]]  # claim a decided paused ticket, start it


class Waits(Protocol):
    """The part of a batch run that staying up reads and changes (batch/runner.py `_Run`)."""

    runtime: Any
    state: Any  # the run's BatchState: its paused tickets, whoever paused them
    in_flight: dict[str, float | None]  # tickets this worker works (or reports) now
    waiting: dict[str, dict[str, Any]]  # paused ticket -> its report line
    changed: anyio.Condition  # notified when either of them moves


def still_pending(store: Any, line: dict[str, Any], now: float, keep: bool) -> list[ApprovalRecord]:
    """A paused ticket's approvals that wait for a person (blocking). A lapsed one does too
    with on_expiry "keep"; with "deny" it is the continued turn's to record as expired."""
    records = (store.get_approval(a) for a in line.get("pending_approvals") or [])
    return [
        record
        for record in records
        if record is not None
        and record.status == "pending"
        and (keep or not record.expired_at(now))
    ]


def look(
    store: Any, waiting: dict[str, dict[str, Any]], now: float, keep: bool
) -> tuple[list[str], float | None]:
    """The paused tickets that can continue, and the earliest deadline of the others."""
    ready: list[str] = []
    deadlines: list[float] = []
    for ticket_id, line in waiting.items():
        still = still_pending(store, line, now, keep)
        if not still:
            ready.append(ticket_id)
        deadlines += [r.expires_at for r in still if r.expires_at and r.expires_at > now]
    return ready, min(deadlines, default=None)


class Waiting:
    """A batch run's paused tickets: which can continue now, and staying up for the rest."""

    def __init__(
        self,
        clock: Callable[[], float],
        order: dict[str, int],
        on_wait: Callable[[list[str]], None] | None = None,
    ) -> None:
        from opscopilot.store.expiry import on_expiry

        self.clock = clock
        self.order = order  # the tickets file's tickets, by id: their order
        self.on_wait = on_wait  # told which tickets a staying-up run now waits on
        self.keep = on_expiry() == "keep"  # a lapsed approval still waits for a person

    async def sort_paused(
        self, run: Waits, pages: Iterator[list[Item]], continue_ticket: ContinueTicket
    ) -> None:
        """When the run starts: continue each paused ticket whose approvals are all decided;
        the others wait (in `run.waiting`)."""
        while (page := await anyio.to_thread.run_sync(next, pages, None)) is not None:
            for item in page:
                if item.ticket_id not in self.order or item.outcome is None:
                    continue
                now = self.clock()
                store, outcome = run.runtime.store, item.outcome
                if await run.runtime.io(still_pending, store, outcome, now, self.keep):
                    run.waiting[item.ticket_id] = outcome
                else:
                    await continue_ticket(item.ticket_id)

    async def stay_up(self, run: Waits, continue_ticket: ContinueTicket) -> None:
        """Keep the run alive while tickets wait or run, continuing each paused ticket (claim
        and start it: `continue_ticket`) as soon as its approvals are decided. At each recheck
        it also takes up the run's tickets that paused since on other workers."""
        store = run.runtime.store
        told: list[str] = []
        # Opened before the first look: a decision committed after that look is never missed.
        with closing(await run.runtime.io(store.watch_changes)) as watch:
            while True:
                async with run.changed:
                    while run.in_flight and not run.waiting:
                        await run.changed.wait()
                if not run.waiting and not run.in_flight:
                    return
                seen, now = _moves(run), self.clock()
                ready, deadline = await run.runtime.io(
                    look, store, dict(run.waiting), now, self.keep
                )
                for ticket_id in ready:
                    run.waiting.pop(ticket_id)
                    await continue_ticket(ticket_id)
                if ready:
                    continue
                waiting = sorted(run.waiting, key=self.order.__getitem__)
                if waiting != told and not run.in_flight and self.on_wait is not None:
                    self.on_wait(waiting)
                    told = waiting
                timeout = RECHECK_S
                if deadline is not None:
                    timeout = min(RECHECK_S, max(deadline - now, 0.0))
                if not await _until_moved(watch, run, seen, timeout):  # the recheck
                    await self.sort_paused(run, run.state.paused(), continue_ticket)


def _moves(run: Waits) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(run.in_flight), frozenset(run.waiting)


async def _until_moved(
    watch: ChangeWatch, run: Waits, seen: tuple[frozenset[str], frozenset[str]], timeout: float
) -> bool:
    """Until the feed says one of the waiting tickets' approvals was decided, a ticket in
    flight was reported (the run moved since `seen`), or `timeout` seconds passed (False)."""
    approval_ids = {a for line in run.waiting.values() for a in line.get("pending_approvals") or []}

    async def decided() -> None:
        while True:
            changes = await watch.next(timeout)
            if any(c.kind == "approval.decided" and c.key in approval_ids for c in changes):
                return

    async def reported() -> None:
        async with run.changed:
            while _moves(run) == seen:
                await run.changed.wait()

    async def first(waiter: Callable[[], Awaitable[None]]) -> None:
        await waiter()
        race.cancel_scope.cancel()

    with anyio.move_on_after(timeout) as timer:
        async with anyio.create_task_group() as race:
            race.start_soon(first, decided)
            race.start_soon(first, reported)
    return not timer.cancelled_caught
