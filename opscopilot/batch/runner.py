"""Works through a backlog of incident tickets unattended, and survives being killed.

Admission is in ticket order and deterministic: a ticket starts when a worker is free and
the run's remaining budget covers its reservation (its own cap); when it doesn't, the
runner waits for tickets in flight, and only with nothing in flight does it give the last
ticket what is left or skip the rest. So the same backlog gives the same report, however
the workers interleave.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from opscopilot import config
from opscopilot.batch.report import skipped_line, ticket_line, write_report
from opscopilot.batch.state import BatchState, Item, run_key
from opscopilot.batch.tickets import Ticket, load_tickets, ticket_prompt

_EPSILON = 1e-9


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
    cost_usd: float
    run_cost_usd: float


@dataclass
class BatchResult:
    run_id: str
    report_path: Path
    lines: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False

    @property
    def exit_code(self) -> int:
        """1 if a ticket failed, else 4 if the budget stopped work, else 3 if any waits, else 0."""
        statuses = {line["status"] for line in self.lines}
        if statuses & {"failed", "cancelled"}:
            return 1
        if statuses & {"cut_off", "skipped"}:
            return 4
        if "awaiting_approval" in statuses:
            return 3
        return 0


class BatchRunner:
    def __init__(
        self,
        tickets_path: Path,
        report_path: Path,
        options: BatchOptions,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tickets_path = tickets_path
        self.report_path = report_path
        self.options = options
        self.on_progress = on_progress
        self.clock = clock
        self.tickets: list[Ticket] = load_tickets(tickets_path)
        self.by_id = {t.id: t for t in self.tickets}
        self._report_lock = threading.Lock()  # one writer at a time, each from the latest state
        self._ledger: Any = None

    async def run(self) -> BatchResult:
        from opscopilot.governance.ledger import Ledger
        from opscopilot.runtime import Runtime
        from opscopilot.store import Store

        run_id = run_key(self.tickets_path, self.report_path)
        state = BatchState(config.db_path(), run_id)
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
        ledger = self._ledger = Ledger()
        runtime = Runtime(Store.open(), priority="batch")
        result = BatchResult(run_id, self.report_path, resumed=not created)
        try:
            await self._work(state, runtime, ledger)
            result.lines = await anyio.to_thread.run_sync(self._report, state)
        finally:
            await runtime.aclose()
            runtime.store.close()
            ledger.close()
            state.close()
        return result

    # --- scheduling ----------------------------------------------------------------

    async def _work(self, state: BatchState, runtime: Any, ledger: Any) -> None:
        items = [i for i in state.items() if i.ticket_id in self.by_id]
        total = len(items)
        done = sum(1 for i in items if i.status == "done")
        in_flight: dict[str, float | None] = {}
        changed = anyio.Condition()
        workers = anyio.CapacityLimiter(self.options.concurrency)

        def committed() -> float:
            # Finished (and interrupted) tickets count what they spent; those in flight, their reservation.
            spent = sum(
                ledger.spent("session", i.session_id)
                for i in state.items()
                if i.session_id and i.ticket_id not in in_flight
            )
            return spent + sum(r or 0.0 for r in in_flight.values())

        async def one(item: Item, cap: float | None) -> None:
            nonlocal done
            try:
                line = await self._ticket(state, runtime, ledger, item, cap)
            finally:
                async with changed:
                    in_flight.pop(item.ticket_id, None)
                    changed.notify_all()
                workers.release_on_behalf_of(item.ticket_id)
            done += 1
            await self._progress(done, total, line, state)

        async with anyio.create_task_group() as group:
            for item in items:
                if item.status == "done":
                    continue
                await workers.acquire_on_behalf_of(item.ticket_id)
                cap = await self._admit(item, in_flight, changed, committed)
                if cap == "skip":
                    workers.release_on_behalf_of(item.ticket_id)
                    await anyio.to_thread.run_sync(
                        state.finished,
                        item.ticket_id,
                        skipped_line(self.by_id[item.ticket_id]),
                        self.clock(),
                    )
                    done += 1
                    await self._progress(
                        done, total, skipped_line(self.by_id[item.ticket_id]), state
                    )
                    continue
                in_flight[item.ticket_id] = cap
                group.start_soon(one, item, cap)

    async def _admit(
        self,
        item: Item,
        in_flight: dict[str, float | None],
        changed: anyio.Condition,
        committed: Callable[[], float],
    ) -> float | str | None:
        """The cap this ticket runs under, or "skip" when the run's budget is spent."""
        run_cap = self.options.max_cost
        reservation = self.options.reservation()
        if run_cap is None:
            return reservation
        async with changed:
            while True:
                remaining = run_cap - await anyio.to_thread.run_sync(committed)
                if reservation is not None and remaining + _EPSILON >= reservation:
                    return reservation
                if not in_flight:
                    return remaining if remaining > _EPSILON else "skip"
                await changed.wait()

    # --- one ticket ----------------------------------------------------------------

    async def _ticket(
        self, state: BatchState, runtime: Any, ledger: Any, item: Item, cap: float | None
    ) -> dict[str, Any]:
        ticket = self.by_id[item.ticket_id]
        store = runtime.store
        session_id = item.session_id or f"s-{state.run_id[2:]}-{ticket.id}"
        if item.session_id is None:
            await anyio.to_thread.run_sync(state.started, ticket.id, session_id)
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
        messages = await runtime.io(store.messages, session_id, turn_id=outcome.turn_id)
        answers = [m.text for m in messages if m.role == "assistant" and m.text.strip()]
        line = ticket_line(ticket, outcome, cost, final_answer=answers[-1] if answers else "")
        await anyio.to_thread.run_sync(state.finished, ticket.id, line, self.clock())
        return line

    # --- reporting -----------------------------------------------------------------

    def _report(self, state: BatchState) -> list[dict[str, Any]]:
        with self._report_lock:
            items = [i for i in state.items() if i.ticket_id in self.by_id]
            lines = [i.outcome for i in items if i.outcome]
            spent = sum(self._ledger.spent("session", i.session_id) for i in items if i.session_id)
            write_report(self.report_path, lines, self.options, spent)
        return lines

    async def _progress(
        self, done: int, total: int, line: dict[str, Any], state: BatchState
    ) -> None:
        lines = await anyio.to_thread.run_sync(self._report, state)
        if self.on_progress is not None:
            run_cost = sum(entry.get("cost_usd") or 0.0 for entry in lines)
            self.on_progress(
                Progress(
                    done, total, line["id"], line["status"], line.get("cost_usd") or 0.0, run_cost
                )
            )
