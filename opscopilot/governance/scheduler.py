"""The one queue every model call passes: concurrency limits, a bounded queue, priorities,
per-provider cool-downs after rate limits, cancellation.

In-process: one scheduler per process (`default_scheduler()`). Two opscopilot processes
each apply their own limits; cross-process limits are not enforced (the budget caps are,
through the shared ledger).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from opscopilot import config
from opscopilot.governance.errors import GovernanceError
from opscopilot.governance.metrics import Meter

Priority = Literal["interactive", "batch"]
_RANK: dict[str, int] = {"interactive": 0, "batch": 1}

DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_MAX_QUEUE = 50


@dataclass(eq=False)
class Ticket:
    """One call's place in the scheduler: waiting, then running, until its slot is released."""

    id: int
    provider: str
    priority: Priority
    queued_at: float
    started_at: float | None = None
    cancelled: bool = False
    _wake: Any = field(default=None, repr=False)  # anyio.Event, made inside the event loop

    @property
    def running(self) -> bool:
        return self.started_at is not None

    def sort_key(self) -> tuple[int, int]:
        return (_RANK[self.priority], self.id)


@dataclass(frozen=True, slots=True)
class SchedulerLimits:
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_queue: int = DEFAULT_MAX_QUEUE
    per_provider: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None = None) -> SchedulerLimits:
        """config.toml `[scheduler] max_concurrency = 8, max_queue = 50, per_provider = {...}`."""
        if section is None:
            try:
                section = config.section("scheduler")
            except config.ConfigError as exc:
                raise GovernanceError("bad_request", str(exc)) from None
        per_provider = section.get("per_provider") or {}
        if not isinstance(per_provider, Mapping):
            raise GovernanceError(
                "bad_request", "config.toml: [scheduler] per_provider must be a table"
            )
        limits = cls(
            max_concurrency=_positive(
                section.get("max_concurrency", DEFAULT_MAX_CONCURRENCY), "max_concurrency"
            ),
            max_queue=_positive(
                section.get("max_queue", DEFAULT_MAX_QUEUE), "max_queue", allow_zero=True
            ),
            per_provider={
                str(k): _positive(v, f"per_provider.{k}") for k, v in per_provider.items()
            },
        )
        return limits


def _positive(value: Any, name: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        least = "0 or more" if allow_zero else "1 or more"
        raise GovernanceError(
            "bad_request", f"config.toml: [scheduler] {name} must be a whole number, {least}"
        )
    return value


class Scheduler:
    """Admits model calls under global and per-provider limits; refuses at once when full."""

    def __init__(
        self,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        *,
        per_provider: Mapping[str, int] | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = SchedulerLimits(max_concurrency, max_queue, dict(per_provider or {}))
        self._clock = clock
        self._ids = itertools.count(1)
        self._waiting: list[Ticket] = []
        self._running: set[Ticket] = set()
        self._running_by_provider: dict[str, int] = {}
        self._cooldown_until: dict[str, float] = {}
        self.meter = Meter(clock)
        self.completed = 0
        self.refused = 0

    @classmethod
    def from_limits(cls, limits: SchedulerLimits) -> Scheduler:
        return cls(
            limits.max_concurrency, per_provider=limits.per_provider, max_queue=limits.max_queue
        )

    # --- the slot ------------------------------------------------------------------------

    @asynccontextmanager
    async def slot(
        self, provider: str, priority: Priority = "interactive"
    ) -> AsyncIterator[Ticket]:
        """Hold one running slot for `provider` for the duration of the block.

        Waits in the queue when limits or a cool-down say so; raises GovernanceError
        "queue_full" at once when the queue is full, "cancelled" when cancelled while queued.
        Cancelling the caller's scope (anyio) while queued or running frees the slot.
        """
        if priority not in _RANK:
            raise GovernanceError("bad_request", f"unknown priority {priority!r}")
        ticket = self._admit(provider, priority)
        try:
            if not ticket.running:
                await self._wait(ticket)
            yield ticket
        finally:
            self._release(ticket)

    def _admit(self, provider: str, priority: Priority) -> Ticket:
        ticket = Ticket(next(self._ids), provider, priority, self._clock())
        if self._eligible(provider, self._clock()):
            self._start(ticket)
            return ticket
        if len(self._waiting) >= self.limits.max_queue:
            self.refused += 1
            raise GovernanceError(
                "queue_full",
                f"the model queue is full ({len(self._running)} running, "
                f"{len(self._waiting)} waiting, limit {self.limits.max_queue}); try again shortly",
            )
        ticket._wake = anyio.Event()
        self._waiting.append(ticket)
        self._waiting.sort(key=Ticket.sort_key)
        return ticket

    async def _wait(self, ticket: Ticket) -> None:
        while not ticket.running:
            if ticket.cancelled:
                raise GovernanceError("cancelled", "the call was cancelled while queued")
            cooling = self.cooldown_left(ticket.provider)
            with anyio.move_on_after(cooling if cooling > 0 else None):
                await ticket._wake.wait()
            if not ticket.running:
                ticket._wake = anyio.Event()
                self._dispatch()

    def _eligible(self, provider: str, now: float) -> bool:
        if len(self._running) >= self.limits.max_concurrency:
            return False
        if self._cooldown_until.get(provider, 0.0) > now:
            return False
        limit = self.limits.per_provider.get(provider)
        return limit is None or self._running_by_provider.get(provider, 0) < limit

    def _start(self, ticket: Ticket) -> None:
        ticket.started_at = self._clock()
        self._running.add(ticket)
        self._running_by_provider[ticket.provider] = (
            self._running_by_provider.get(ticket.provider, 0) + 1
        )

    def _release(self, ticket: Ticket) -> None:
        if ticket in self._running:
            self._running.remove(ticket)
            self._running_by_provider[ticket.provider] -= 1
            self.completed += 1
        elif ticket in self._waiting:
            self._waiting.remove(ticket)
        self._dispatch()

    def _dispatch(self) -> None:
        """Start every waiting call the limits now allow, interactive first, oldest first."""
        now = self._clock()
        for ticket in list(self._waiting):
            if len(self._running) >= self.limits.max_concurrency:
                break
            if ticket.cancelled:
                ticket._wake.set()
                continue
            if self._eligible(ticket.provider, now):
                self._waiting.remove(ticket)
                self._start(ticket)
                ticket._wake.set()

    # --- cool-downs and cancellation -----------------------------------------------------

    def cooldown(self, provider: str, seconds: float) -> None:
        """No new call for `provider` for `seconds` (after a 429 or overloaded); others go on."""
        until = self._clock() + max(seconds, 0.0)
        if until > self._cooldown_until.get(provider, 0.0):
            self._cooldown_until[provider] = until
        for ticket in self._waiting:
            if ticket.provider == provider:
                ticket._wake.set()  # recompute how long to sleep

    def cooldown_left(self, provider: str) -> float:
        return max(self._cooldown_until.get(provider, 0.0) - self._clock(), 0.0)

    def cooldowns(self) -> dict[str, float]:
        now = self._clock()
        return {p: round(u - now, 3) for p, u in self._cooldown_until.items() if u > now}

    def cancel(
        self,
        *,
        provider: str | None = None,
        priority: Priority | None = None,
        ticket_id: int | None = None,
    ) -> int:
        """Cancel matching calls: queued ones leave the queue, running ones are cut off by
        their stream guard at the next event. Returns how many were marked."""
        marked = 0
        for ticket in [*self._waiting, *self._running]:
            if provider is not None and ticket.provider != provider:
                continue
            if priority is not None and ticket.priority != priority:
                continue
            if ticket_id is not None and ticket.id != ticket_id:
                continue
            if not ticket.cancelled:
                ticket.cancelled = True
                marked += 1
                if ticket._wake is not None and not ticket.running:
                    ticket._wake.set()
        return marked

    # --- figures -------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def metrics(self, *, spend: dict[str, tuple[float, float | None]] | None = None) -> Any:
        """A SchedulerMetrics event: in flight, queued, capacity, rates, cool-downs, spend."""
        from opscopilot.events import SchedulerMetrics

        return SchedulerMetrics(
            ts=time.time(),
            in_flight=self.in_flight,
            queued=self.queued,
            capacity=self.limits.max_concurrency,
            tokens_per_s=round(self.meter.tokens_per_s(), 2),
            usd_per_min=round(self.meter.usd_per_min(), 6),
            cooldowns=self.cooldowns(),
            spend=spend or {},
        )


_default: Scheduler | None = None


def default_scheduler() -> Scheduler:
    """The process's scheduler, built from config.toml `[scheduler]` on first use."""
    global _default
    if _default is None:
        _default = Scheduler.from_limits(SchedulerLimits.from_config())
    return _default
