"""Sliding-window rates (tokens/s, $/min) and the loop that publishes SchedulerMetrics events."""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from opscopilot.governance.caps import Caps
from opscopilot.governance.errors import GovernanceError
from opscopilot.governance.ledger import SCOPES, Ledger, utc_day

if TYPE_CHECKING:
    from opscopilot.events import SchedulerMetrics
    from opscopilot.governance.scheduler import Scheduler

TOKENS_WINDOW_S = 5.0
COST_WINDOW_S = 60.0
PUBLISH_INTERVAL_S = 0.25


class RateWindow:
    """Amounts added over the last `window_s` seconds, as a rate per second.

    Amounts are summed into `BUCKETS` slices of the window, so its memory stays the same at
    any rate (a sample per streamed chunk held a minute of a busy batch's chunks, ~3 MB); an
    amount leaves the window when its whole slice has."""

    __slots__ = ("_buckets", "_total", "_width", "window_s")

    BUCKETS = 60

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._width = window_s / self.BUCKETS
        self._buckets: deque[list[float]] = deque()  # [slice number, amount], oldest first
        self._total = 0.0

    def add(self, amount: float, now: float) -> None:
        if amount:
            number = now // self._width
            if self._buckets and self._buckets[-1][0] == number:
                self._buckets[-1][1] += amount
            else:
                self._buckets.append([number, amount])
            self._total += amount
        self._trim(now)

    def total(self, now: float) -> float:
        self._trim(now)
        return max(self._total, 0.0)

    def per_second(self, now: float) -> float:
        return self.total(now) / self.window_s

    def _trim(self, now: float) -> None:
        horizon = now - self.window_s
        while self._buckets and (self._buckets[0][0] + 1) * self._width < horizon:
            self._total -= self._buckets.popleft()[1]
        if not self._buckets:
            self._total = 0.0  # no float residue from the sums left behind


class Meter:
    """Throughput of every call passing the guard: output tokens per second and USD per minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens = RateWindow(TOKENS_WINDOW_S)
        self._cost = RateWindow(COST_WINDOW_S)

    def add(self, tokens: float, cost_usd: float) -> None:
        now = self._clock()
        self._tokens.add(tokens, now)
        self._cost.add(cost_usd, now)

    def tokens_per_s(self) -> float:
        return self._tokens.per_second(self._clock())

    def usd_per_min(self) -> float:
        return self._cost.total(self._clock()) * 60.0 / COST_WINDOW_S


def spend_against_caps(
    ledger: Ledger,
    caps: Caps,
    *,
    session_id: str | None = None,
    turn_id: str | None = None,
    call_id: str | None = None,
    now: float | None = None,
) -> dict[str, tuple[float, float | None]]:
    """scope -> (spent, cap) for the scopes that have a key (the day always has one)."""
    keys = {
        "call": call_id,
        "turn": turn_id,
        "session": session_id,
        "day": utc_day(time.time() if now is None else now),
    }
    spend: dict[str, tuple[float, float | None]] = {}
    for scope in SCOPES:
        key = keys[scope]
        if key is not None:
            spend[scope] = (ledger.spent(scope, key), caps.cap(scope))
    return spend


async def publish_metrics(
    scheduler: Scheduler,
    publish: Callable[[SchedulerMetrics], Awaitable[None] | None],
    *,
    ledger: Ledger | None = None,
    caps: Caps | None = None,
    scope_keys: Callable[[], dict[str, str | None]] | None = None,
    interval_s: float = PUBLISH_INTERVAL_S,
) -> None:
    """Publish a SchedulerMetrics event every `interval_s` until cancelled.

    `scope_keys()` names what the spend figures are about now (session_id, turn_id,
    call_id); the ledger is read in a worker thread so the loop never waits on the disk.
    """
    while True:
        spend: dict[str, tuple[float, float | None]] = {}
        if ledger is not None and caps is not None:
            keys = scope_keys() if scope_keys is not None else {}
            try:
                spend = await anyio.to_thread.run_sync(
                    functools.partial(spend_against_caps, ledger, caps, **keys)  # type: ignore[arg-type]
                )
            except GovernanceError:
                spend = {}  # a busy or broken ledger must not stop the meters
        result = publish(scheduler.metrics(spend=spend))
        if result is not None:
            await result
        await anyio.sleep(interval_s)
