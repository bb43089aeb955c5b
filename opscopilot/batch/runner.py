"""Works through a backlog of incident tickets unattended, and survives being killed.

Admission is in ticket order and deterministic: a ticket starts when a worker is free and
the run's remaining budget covers its reservation (its own cap); when it doesn't, the
runner waits for tickets in flight, and only with nothing in flight does it give the last
ticket what is left or skip the rest. So the same backlog gives the same report, however
the workers interleave.

A ticket whose turn waits for an approval stays `paused` in the run's state. The same
command started again continues every paused ticket whose approvals have all been decided
(approved, edited or denied, from any terminal) and leaves the others paused; with
`wait=True` the run stays up and continues them as their decisions arrive.

Per ticket the runner does O(1) work: the report line is appended, the run's spend is a
running total (one ledger read per finished ticket), and the state is read a page at a time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from opscopilot.batch.report import ReportWriter, skipped_line, ticket_line
from opscopilot.batch.state import BatchState, Item, run_key
from opscopilot.batch.tickets import Ticket, load_tickets, ticket_prompt

_EPSILON = 1e-9
DECISION_POLL_S = 0.5  # how often a staying-up run looks for decisions without a change signal


@dataclass(frozen=True)
class BatchOptions:
    model: str
    approve: str = "read-only"
    concurrency: int = 4
    max_cost: float | None = None  # the whole run
    max_cost_per_ticket: float | None = None

    def reservation(self) -> float | None:
        """What a ticket in flight may spend at most (None: unbounded)."""
        if self.max_cost_per_ticket is not None:
            return self.max_cost_per_ticket
        if self.max_cost is not None:
            return self.max_cost / max(self.concurrency, 1)
        return None


@dataclass
class Progress:
    done: int
    total: int
    ticket_id: str
    status: str
    cost_usd: float | None  # None: the ticket's model has no known price
    run_cost_usd: float
    continued: bool = False  # a paused ticket that a decision let continue
    run_unpriced: int = 0  # tickets of the run whose cost is unknown


@dataclass
class Tally:
    """Counts and cost of the report's lines, kept as lines are replaced (O(1) per ticket)."""

    counts: Counter[str] = field(default_factory=Counter)
    cost_usd: float = 0.0
    unpriced: int = 0  # lines whose cost is unknown (null): cost_usd is a lower bound

    def add(self, line: dict[str, Any]) -> None:
        self.counts[line["status"]] += 1
        self.cost_usd += line.get("cost_usd") or 0.0
        self.unpriced += line.get("cost_usd", 0.0) is None

    def remove(self, line: dict[str, Any]) -> None:
        self.counts[line["status"]] -= 1
        if not self.counts[line["status"]]:
            del self.counts[line["status"]]
        self.cost_usd -= line.get("cost_usd") or 0.0
        self.unpriced -= line.get("cost_usd", 0.0) is None


@dataclass
class BatchResult:
    run_id: str
    report_path: Path
    counts: Counter[str] = field(default_factory=Counter)
    cost_usd: float = 0.0
    unpriced: int = 0  # tickets whose cost is unknown (their model has no price)
    continued: list[str] = field(default_factory=list)  # paused tickets continued by this run
    waiting: list[str] = field(default_factory=list)  # tickets still awaiting approval
    resumed: bool = False

    @property
    def tickets(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        """1 if a ticket failed, else 4 if the budget stopped work, else 3 if any waits, else 0."""
        statuses = set(self.counts)
        if statuses & {"failed", "cancelled"}:
            return 1
        if statuses & {"cut_off", "skipped"}:
            return 4
        if "awaiting_approval" in statuses:
            return 3
        return 0


@dataclass
class _Run:
    """What one run of the command keeps in memory: O(in flight + paused), not O(tickets)."""

    state: BatchState
    runtime: Any
    ledger: Any
    report: ReportWriter
    tally: Tally
    settled_usd: float  # ledger spend of every started ticket not in flight now
    done: int
    total: int
    in_flight: dict[str, float | None] = field(default_factory=dict)  # ticket -> reservation
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)  # paused ticket -> its line
    changed: anyio.Condition = field(default_factory=anyio.Condition)

    def committed(self) -> float:
        # Settled tickets count what they spent; those in flight, their reservation.
        return self.settled_usd + sum(r or 0.0 for r in self.in_flight.values())


class BatchRunner:
    def __init__(
        self,
        tickets_path: Path,
        report_path: Path,
        options: BatchOptions,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        clock: Callable[[], float] = time.time,
        wait: bool = False,
        on_wait: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.tickets_path = tickets_path
        self.report_path = report_path
        self.options = options
        self.on_progress = on_progress
        self.clock = clock
        self.wait = wait
        self.on_wait = on_wait  # told which tickets a staying-up run now waits on
        self.tickets: list[Ticket] = load_tickets(tickets_path)
        self.by_id = {t.id: t for t in self.tickets}
        self.order = {t.id: n for n, t in enumerate(self.tickets)}

    async def run(self) -> BatchResult:
        from opscopilot.governance.ledger import Ledger
        from opscopilot.runtime import Runtime
        from opscopilot.store import Store

        run_id = run_key(self.tickets_path, self.report_path)
        state = BatchState(None, run_id)
        options = {
            "model": self.options.model,
            "approve": self.options.approve,
            "max_cost": self.options.max_cost,
            "max_cost_per_ticket": self.options.max_cost_per_ticket,
        }
        created = await anyio.to_thread.run_sync(
            state.open_run,
            self.tickets_path,
            self.report_path,
            options,
            [t.id for t in self.tickets],
            self.clock(),
        )
        ledger = Ledger()
        runtime = Runtime(Store.open(), priority="batch")
        report = ReportWriter(self.report_path, self.options, lambda: self._lines(state))
        run: _Run | None = None
        try:
            run = await anyio.to_thread.run_sync(self._open, state, runtime, ledger, report)
            await anyio.to_thread.run_sync(report.rewrite, run.settled_usd)
            async with anyio.create_task_group() as group:
                workers = anyio.CapacityLimiter(self.options.concurrency)
                await self._work(run, group, workers)
                if self.wait:
                    await self._stay_up(run, group, workers)
        finally:
            if run is not None:  # interrupted too (Ctrl-C while staying up): a whole report
                report.rewrite(run.settled_usd)
            report.close()
            await runtime.aclose()
            runtime.store.close()
            ledger.close()
            state.close()
        return BatchResult(
            run_id,
            self.report_path,
            counts=run.tally.counts,
            cost_usd=run.tally.cost_usd,
            unpriced=run.tally.unpriced,
            continued=sorted(report.continued, key=self.order.__getitem__),
            waiting=sorted(run.waiting, key=self.order.__getitem__),
            resumed=not created,
        )

    def _lines(self, state: BatchState) -> Iterator[dict[str, Any]]:
        return (line for line in state.outcomes() if line["id"] in self.by_id)

    def _open(self, state: BatchState, runtime: Any, ledger: Any, report: ReportWriter) -> _Run:
        """The run's totals from its state: one pass when the command starts."""
        tally = Tally()
        for line in self._lines(state):
            tally.add(line)
        settled = sum(ledger.spent("session", session_id) for session_id in state.sessions())
        return _Run(
            state=state,
            runtime=runtime,
            ledger=ledger,
            report=report,
            tally=tally,
            settled_usd=settled,
            done=sum(tally.counts.values()),
            total=len(self.tickets),
        )

    # --- scheduling ----------------------------------------------------------------

    async def _work(self, run: _Run, group: Any, workers: anyio.CapacityLimiter) -> None:
        """Every ticket not done, in ticket order: pending and interrupted ones run, paused
        ones continue when decided and otherwise keep waiting."""
        pages = run.state.work()
        while (page := await anyio.to_thread.run_sync(next, pages, None)) is not None:
            for item in page:
                if item.ticket_id not in self.by_id:
                    continue
                paused = item.status == "paused" and item.outcome is not None
                if paused and not await run.runtime.io(
                    self._decided, run.runtime.store, item.outcome
                ):
                    run.waiting[item.ticket_id] = item.outcome  # type: ignore[assignment]
                    continue
                await self._start(run, group, workers, item)

    async def _stay_up(self, run: _Run, group: Any, workers: anyio.CapacityLimiter) -> None:
        """Keep the run alive while tickets wait, continuing each as its approvals are decided."""
        store = run.runtime.store
        told: list[str] = []
        while True:
            async with run.changed:
                while run.in_flight and not run.waiting:
                    await run.changed.wait()
            if not run.waiting and not run.in_flight:
                return
            ready = [
                ticket_id
                for ticket_id, line in list(run.waiting.items())
                if await run.runtime.io(self._decided, store, line)
            ]
            for ticket_id in ready:
                line = run.waiting.pop(ticket_id)
                item = Item(ticket_id, 0, "paused", line.get("session_id"), line)
                await self._start(run, group, workers, item)
            if not ready:
                waiting = sorted(run.waiting, key=self.order.__getitem__)
                if waiting != told and not run.in_flight and self.on_wait is not None:
                    self.on_wait(waiting)
                    told = waiting
                await anyio.sleep(DECISION_POLL_S)

    def _decided(self, store: Any, line: dict[str, Any]) -> bool:
        """Whether a paused ticket can continue: none of its approvals still waits."""
        now = self.clock()
        for approval_id in line.get("pending_approvals") or []:
            record = store.get_approval(approval_id)
            if record is not None and record.as_of(now).status == "pending":
                return False
        return True

    async def _start(
        self, run: _Run, group: Any, workers: anyio.CapacityLimiter, item: Item
    ) -> None:
        await workers.acquire_on_behalf_of(item.ticket_id)
        if item.session_id is not None:
            # It counts by its reservation while in flight, no longer by what it spent.
            run.settled_usd -= await anyio.to_thread.run_sync(
                run.ledger.spent, "session", item.session_id
            )
        cap = await self._admit(item, run)
        if cap == "skip":
            workers.release_on_behalf_of(item.ticket_id)
            if item.session_id is not None:
                run.settled_usd += await anyio.to_thread.run_sync(
                    run.ledger.spent, "session", item.session_id
                )
            line = skipped_line(self.by_id[item.ticket_id])
            await anyio.to_thread.run_sync(run.state.finished, item.ticket_id, line, self.clock())
            await self._finished(run, item, line)
            return
        run.in_flight[item.ticket_id] = cap  # type: ignore[assignment]
        group.start_soon(self._one, run, workers, item, cap)

    async def _one(
        self, run: _Run, workers: anyio.CapacityLimiter, item: Item, cap: float | None
    ) -> None:
        line: dict[str, Any] | None = None
        try:
            line = await self._ticket(run, item, cap)
        finally:
            spent = 0.0
            if item.session_id is not None:  # written down by `_ticket` before its turn began
                spent = await anyio.to_thread.run_sync(run.ledger.spent, "session", item.session_id)
            async with run.changed:
                run.settled_usd += spent
                run.in_flight.pop(item.ticket_id, None)
                run.changed.notify_all()
            workers.release_on_behalf_of(item.ticket_id)
        await self._finished(run, item, line)

    async def _finished(self, run: _Run, item: Item, line: dict[str, Any]) -> None:
        continued = item.status == "paused"
        if item.outcome is not None:
            run.tally.remove(item.outcome)
        else:
            run.done += 1
        run.tally.add(line)
        if continued:
            run.report.continued.append(item.ticket_id)
        if line["status"] == "awaiting_approval":
            run.waiting[item.ticket_id] = line
        async with run.changed:
            run.changed.notify_all()
        await anyio.to_thread.run_sync(run.report.append, line, run.settled_usd)
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    run.done,
                    run.total,
                    line["id"],
                    line["status"],
                    line.get("cost_usd", 0.0),
                    run.tally.cost_usd,
                    continued=continued,
                    run_unpriced=run.tally.unpriced,
                )
            )

    async def _admit(self, item: Item, run: _Run) -> float | str | None:
        """The cap this ticket runs under, or "skip" when the run's budget is spent."""
        run_cap = self.options.max_cost
        reservation = self.options.reservation()
        if run_cap is None:
            return reservation
        async with run.changed:
            while True:
                remaining = run_cap - run.committed()
                if reservation is not None and remaining + _EPSILON >= reservation:
                    return reservation
                if not run.in_flight:
                    return remaining if remaining > _EPSILON else "skip"
                await run.changed.wait()

    # --- one ticket ----------------------------------------------------------------

    async def _ticket(self, run: _Run, item: Item, cap: float | None) -> dict[str, Any]:
        ticket = self.by_id[item.ticket_id]
        runtime, state = run.runtime, run.state
        store = runtime.store
        session_id = item.session_id or f"s-{state.run_id[2:]}-{ticket.id}"
        if item.session_id is None:
            await anyio.to_thread.run_sync(state.started, ticket.id, session_id)
            item.session_id = session_id
        if await runtime.io(store.get_session, session_id) is None:
            await runtime.io(
                store.create_session,
                session_id,
                self.options.model,
                f"{ticket.id}: {ticket.title}"[:80],
                self.clock(),
            )
        turns = await runtime.io(store.list_turns, session_id)
        if turns:
            outcome = await runtime.resume(turns[-1].id)
        else:
            prompt = ticket_prompt(ticket, self.tickets_path.parent)
            outcome = await runtime.start_turn(
                session_id,
                prompt,
                model=self.options.model,
                approve_mode=self.options.approve,
                max_cost=cap,
            )
        # The report prices the work that produced the answer; a call cut short by a crash
        # and made again is spend too, and stays in the ledger (summary, caps, `budget show`).
        cost = outcome.cost_usd or 0.0
        spent_tokens = outcome.usage.input_tokens + outcome.usage.output_tokens > 0
        if outcome.status == "cut_off" and not spent_tokens and self.options.max_cost is not None:
            # Refused before its first token: what the run's cap left could not pay for a
            # call, so this ticket was never worked, not cut off while working.
            line = {**skipped_line(ticket), "session_id": session_id, "turn_id": outcome.turn_id}
            await anyio.to_thread.run_sync(state.finished, ticket.id, line, self.clock())
            return line
        messages = await runtime.io(store.messages, session_id, turn_id=outcome.turn_id)
        answers = [m.text for m in messages if m.role == "assistant" and m.text.strip()]
        line = ticket_line(ticket, outcome, cost, final_answer=answers[-1] if answers else "")
        await anyio.to_thread.run_sync(state.finished, ticket.id, line, self.clock())
        return line
