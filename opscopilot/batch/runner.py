"""Works through a backlog of incident tickets unattended, and survives being killed.

Admission is in ticket order and deterministic: a ticket starts when a worker is free and
the run's remaining budget covers its reservation (its own cap); when it doesn't, the
runner waits for tickets in flight, and only with nothing in flight does it give the last
ticket what is left or skip the rest. So the same backlog gives the same report, however
the workers interleave.

Several workers (processes on any hosts sharing one store, `--run NAME`) work one run
together: each claims its next ticket from the store under a lease it renews (see
opscopilot/store/batch.py), so every ticket is worked once; a worker that dies loses its
leases and the others take its tickets over, resuming their turns where the journal says.
The run's cap is admitted against totals kept in the store, so it holds across workers. A
worker stays while any ticket of the run is open (held by another worker that may yet die),
and ends by writing the whole report from the store.

A ticket whose turn waits for an approval stays `paused` in the run's state. The same
command started again continues every paused ticket whose approvals have all been decided
(approved, edited or denied, from any terminal) and leaves the others paused; with
`wait=True` the run stays up and continues them as their decisions arrive, woken by the
store's change feed (batch/waiting.py).

Per ticket the runner does O(1) work: the report line is appended, the run's spend is a
running total in the store (one ledger read per finished ticket), and the state is read a
page at a time.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from opscopilot.batch.report import ReportWriter, Tally, skipped_line, ticket_line
from opscopilot.batch.state import LEASE_S, BatchState, Item, Worker, named_run_key, run_key
from opscopilot.batch.tickets import Backlog, ticket_prompt
from opscopilot.batch.waiting import ContinueTicket, Waiting

OTHERS_POLL_S = 0.1  # how often an idle worker looks whether others' tickets settled or expired
OWNED_RETRY_S = 1.0  # how often a taken-over turn is tried while its old owner's claim lasts


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
class BatchResult:
    run_id: str
    report_path: Path
    counts: Counter[str] = field(default_factory=Counter)
    cost_usd: float = 0.0
    unpriced: int = 0  # tickets whose cost is unknown (their model has no price)
    continued: list[str] = field(default_factory=list)  # paused tickets continued by this run
    waiting: list[str] = field(default_factory=list)  # tickets still awaiting approval
    resumed: bool = False
    completed_here: bool = False  # this worker settled the run's last open ticket

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


class _Lost(Exception):
    """This worker's claim on a ticket was taken over (it was presumed dead)."""


def _first_error(errors: BaseExceptionGroup) -> BaseException:
    """The error a ticket's task failed with (a store error is one line for the operator),
    not the task group that carried it; a group of several kinds stays a group."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [errors]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            leaves.append(error)
    kinds = {type(error) for error in leaves}
    return leaves[0] if len(kinds) == 1 else errors


@dataclass
class _Run:
    """What one worker keeps in memory: O(in flight + paused), not O(tickets)."""

    state: BatchState
    runtime: Any
    ledger: Any
    report: ReportWriter
    tally: Tally
    done: int
    total: int
    # ticket -> reservation, from its claim until its outcome is reported (not only recorded)
    in_flight: dict[str, float | None] = field(default_factory=dict)
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)  # paused ticket -> its line
    changed: anyio.Condition = field(default_factory=anyio.Condition)
    waiting_ids: list[str] = field(default_factory=list)  # the whole run's, once settled
    completed_here: bool = False


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
        run_name: str | None = None,
        lease_s: float = LEASE_S,
    ) -> None:
        self.tickets_path = tickets_path
        self.report_path = report_path
        self.options = options
        self.on_progress = on_progress
        self.clock = clock
        self.wait = wait
        self.run_name = run_name  # --run NAME: workers on any host that name it share it
        self.lease_s = lease_s
        self.backlog = Backlog(tickets_path)
        self.order = self.backlog.order
        self.paused = Waiting(clock, self.order, on_wait)  # decided yet? and staying up

    async def run(self) -> BatchResult:
        from opscopilot.governance.ledger import Ledger
        from opscopilot.runtime import Runtime
        from opscopilot.store import Store, StoreError

        failed = True
        if self.run_name is not None:
            run_id = named_run_key(self.run_name)
        else:
            run_id = run_key(self.tickets_path, self.report_path)
        state = BatchState(None, run_id, Worker(f"w-{uuid.uuid4().hex[:12]}"))
        options = {
            "model": self.options.model,
            "approve": self.options.approve,
            "max_cost": self.options.max_cost,
            "max_cost_per_ticket": self.options.max_cost_per_ticket,
        }
        try:
            created = await anyio.to_thread.run_sync(
                functools.partial(
                    state.open_run,
                    self.tickets_path,
                    self.report_path,
                    options,
                    self.backlog.ids,
                    self.clock(),
                    name=self.run_name,
                )
            )
        except BaseException:
            state.close()
            raise
        ledger = Ledger()
        runtime = Runtime(Store.open(), priority="batch")
        report = ReportWriter(self.report_path, self.options, lambda: self._lines(state))
        run: _Run | None = None
        try:
            run = await anyio.to_thread.run_sync(self._open, state, runtime, ledger, report)
            await anyio.to_thread.run_sync(lambda: report.rewrite(state.totals().settled_usd))
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._renew_leases, state)
                    workers = anyio.Semaphore(self.options.concurrency)
                    continued = functools.partial(self._continue, run, group, workers)
                    while True:
                        await self._work(run, group, workers, continued)
                        if not self.wait:
                            break
                        # Staying up: every paused ticket of the run is waited on, other
                        # workers' too; after that, others' tickets may still run and pause.
                        await self.paused.sort_paused(run, run.state.paused(), continued)
                        if not run.waiting and not run.in_flight:
                            break
                        await self.paused.stay_up(run, continued)
                    group.cancel_scope.cancel()  # the lease renewal: nothing is held any more
            except BaseExceptionGroup as errors:
                raise _first_error(errors) from None
        except BaseException:
            failed = True
            raise
        else:
            failed = False
        finally:
            if run is not None:  # interrupted too (Ctrl-C while staying up): a whole report
                with anyio.CancelScope(shield=True):
                    try:
                        await anyio.to_thread.run_sync(self._settle, run)
                    except StoreError:
                        if not failed:  # else the error that stopped the run says more
                            raise
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
            waiting=run.waiting_ids,
            resumed=not created,
            completed_here=run.completed_here,
        )

    def _lines(self, state: BatchState) -> Iterator[dict[str, Any]]:
        return (line for line in state.outcomes() if line["id"] in self.backlog)

    def _open(self, state: BatchState, runtime: Any, ledger: Any, report: ReportWriter) -> _Run:
        """The run's progress from its state: one pass when the command starts."""
        tally = Tally()
        for line in self._lines(state):
            tally.add(line)
        return _Run(
            state=state,
            runtime=runtime,
            ledger=ledger,
            report=report,
            tally=tally,
            done=sum(tally.counts.values()),
            total=len(self.backlog),
        )

    def _settle(self, run: _Run) -> None:
        """At the end: the whole run's report and totals, whichever workers worked it."""
        run.report.rewrite(run.state.totals().settled_usd)
        run.tally, run.waiting_ids = Tally(), []
        for line in self._lines(run.state):
            run.tally.add(line)
            if line["status"] == "awaiting_approval":
                run.waiting_ids.append(line["id"])
        run.completed_here = run.state.completed_by() == run.state.worker.worker_id

    # --- scheduling ----------------------------------------------------------------

    async def _work(
        self, run: _Run, group: Any, workers: anyio.Semaphore, continued: ContinueTicket
    ) -> None:
        """Paused tickets continue when decided (and otherwise keep waiting); then every
        ticket this worker can claim, in ticket order, until the run has none open."""
        await self.paused.sort_paused(run, run.state.paused(), continued)
        reservation, run_cap = self.options.reservation(), self.options.max_cost
        claim = functools.partial(
            run.state.claim, self.lease_s, reservation=reservation, run_cap=run_cap
        )
        while True:
            await workers.acquire()
            item = await self._claim(run, claim)
            if item is not None:
                await self._launch(run, group, workers, item)
                continue
            workers.release()
            if not run.in_flight and not await anyio.to_thread.run_sync(run.state.open_elsewhere):
                return
            # Others hold tickets: one may finish, or its worker die and its lease run out.
            await self._changed_or(run, OTHERS_POLL_S)

    async def _claim(self, run: _Run, claim: Callable[[], Item | str | None]) -> Item | None:
        """A claimed ticket (or None), waiting while the run's cap admits none."""
        while (got := await anyio.to_thread.run_sync(claim)) == "wait":
            await self._changed_or(run, OTHERS_POLL_S)
        return got  # type: ignore[return-value]

    async def _changed_or(self, run: _Run, timeout_s: float) -> None:
        """Until a ticket of this worker settles, or `timeout_s` (others' news is in the store)."""
        with anyio.move_on_after(timeout_s):
            async with run.changed:
                await run.changed.wait()

    async def _renew_leases(self, state: BatchState) -> None:
        """Keep this worker's claims alive; a worker that stops renewing loses them."""
        from opscopilot.store import StoreError

        while True:
            await anyio.sleep(self.lease_s / 5)
            try:
                await anyio.to_thread.run_sync(state.renew, self.lease_s)
            except StoreError:
                pass  # a busy or unreachable store: the next renewal tries again within the lease

    async def _continue(
        self, run: _Run, group: Any, workers: anyio.Semaphore, ticket_id: str
    ) -> None:
        """Claim a decided paused ticket and continue it (unless another worker already has)."""
        await workers.acquire()
        claim = functools.partial(
            run.state.claim_paused,
            ticket_id,
            self.lease_s,
            reservation=self.options.reservation(),
            run_cap=self.options.max_cost,
        )
        item = await self._claim(run, claim)
        if item is None:
            workers.release()
            return
        await self._launch(run, group, workers, item)

    async def _launch(self, run: _Run, group: Any, workers: anyio.Semaphore, item: Item) -> None:
        """Start a claimed ticket, or record it skipped when the run's cap is spent."""
        ticket = self.backlog.get(item.ticket_id)
        if ticket is None:  # the run knew it; this tickets file no longer holds it
            await anyio.to_thread.run_sync(run.state.forget, item.ticket_id)
            workers.release()
            return
        if item.skip:  # the run's cap is spent, and nothing runs anywhere that could free it
            line = skipped_line(ticket)
            spent = 0.0
            if item.session_id is not None:
                spent = await anyio.to_thread.run_sync(run.ledger.spent, "session", item.session_id)
            settled = await anyio.to_thread.run_sync(
                run.state.finished, item.ticket_id, line, self.clock(), spent
            )
            workers.release()
            if settled is not None:
                await self._finished(run, item, line, settled)
            return
        run.in_flight[item.ticket_id] = item.reservation
        group.start_soon(self._one, run, workers, item)

    async def _one(self, run: _Run, workers: anyio.Semaphore, item: Item) -> None:
        """Work a claimed ticket and report it. Its worker slot is free once the store holds
        its outcome; it stays in flight until reported, so the run never ends (cancelling
        what is left) or stops waiting between the two."""
        holds_slot = True
        try:
            line = await self._ticket_when_free(run, item)
            spent = 0.0
            if item.session_id is not None:  # written down by `_ticket` before its turn began
                spent = await anyio.to_thread.run_sync(run.ledger.spent, "session", item.session_id)
            settled = await anyio.to_thread.run_sync(
                run.state.finished, item.ticket_id, line, self.clock(), spent
            )
            holds_slot = False
            workers.release()
            if settled is not None:  # else another worker took it over and reports it
                await self._finished(run, item, line, settled)
        except _Lost:
            pass  # taken over before its turn began: the other worker works it
        finally:
            if holds_slot:
                workers.release()
            with anyio.CancelScope(shield=True):
                async with run.changed:
                    run.in_flight.pop(item.ticket_id, None)
                    run.changed.notify_all()

    async def _ticket_when_free(self, run: _Run, item: Item) -> dict[str, Any]:
        """Work the ticket; a turn still driven by a worker presumed dead (its own lease on
        the turn has not run out yet) is waited for, never driven twice."""
        from opscopilot.runtime import RuntimeFailure

        while True:
            try:
                return await self._ticket(run, item, item.reservation)
            except RuntimeFailure as exc:
                if exc.kind != "owned":
                    raise
            await anyio.sleep(OWNED_RETRY_S)

    async def _finished(self, run: _Run, item: Item, line: dict[str, Any], settled: int) -> None:
        continued = item.status == "paused"
        if item.outcome is not None:
            run.tally.remove(item.outcome)
        run.done = settled  # the whole run's, every worker's tickets included
        run.tally.add(line)
        if continued:
            run.report.continued.append(item.ticket_id)
        if line["status"] == "awaiting_approval":
            run.waiting[item.ticket_id] = line
        async with run.changed:
            run.changed.notify_all()
        spent = await anyio.to_thread.run_sync(run.state.totals)
        await anyio.to_thread.run_sync(run.report.append, line, spent.settled_usd)
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

    # --- one ticket ----------------------------------------------------------------

    async def _ticket(self, run: _Run, item: Item, cap: float | None) -> dict[str, Any]:
        ticket = self.backlog[item.ticket_id]
        runtime, state = run.runtime, run.state
        store = runtime.store
        session_id = item.session_id or f"s-{state.run_id[2:]}-{ticket.id}"
        if item.session_id is None:
            if not await anyio.to_thread.run_sync(state.started, ticket.id, session_id):
                raise _Lost(ticket.id)
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
            return {**skipped_line(ticket), "session_id": session_id, "turn_id": outcome.turn_id}
        messages = await runtime.io(store.messages, session_id, turn_id=outcome.turn_id)
        answers = [m.text for m in messages if m.role == "assistant" and m.text.strip()]
        return ticket_line(ticket, outcome, cost, final_answer=answers[-1] if answers else "")
