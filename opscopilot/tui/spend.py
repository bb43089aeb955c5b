"""What the meters show, folded from events: spend per call/turn/session/day against caps,
and the scheduler's queue figures. Pure (no Textual, no clock): the app feeds events in.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Literal

from opscopilot.events import (
    BudgetCutoff,
    Event,
    ModelCallStarted,
    ModelFinished,
    ModelUsage,
    SchedulerMetrics,
)

Scope = Literal["call", "turn", "session", "day"]
Level = Literal["ok", "warn", "over", "none"]
SCOPES: tuple[Scope, ...] = ("call", "turn", "session", "day")


@dataclass
class _Call:
    session_id: str | None
    turn_id: str | None
    cost_usd: float = 0.0
    simulated: bool = False
    unpriced: bool = False  # spent tokens of a model with no known price: cost unknown
    stored: bool = False  # redrawn from the store: the ledger's figure for today has it already


@dataclass(frozen=True)
class MeterReading:
    """One scope's spend against its cap, and the threshold level it sits at."""

    scope: Scope
    spent_usd: float
    cap_usd: float | None
    level: Level
    simulated: bool
    unknown: bool = False  # a call in this scope had no known price: spent_usd is a floor


def level_for(spent: float, cap: float | None, warn_fraction: float) -> Level:
    if cap is None or cap <= 0:
        return "none"
    if spent >= cap:
        return "over"
    if spent >= cap * warn_fraction:
        return "warn"
    return "ok"


RECENT_CALLS = 64  # calls whose later usage events are still expected


@dataclass
class _Total:
    cost_usd: float = 0.0
    simulated: bool = False
    unpriced: bool = False

    def add(self, delta: float, simulated: bool, unpriced: bool = False) -> None:
        self.cost_usd += delta
        self.simulated = self.simulated or simulated
        self.unpriced = self.unpriced or unpriced


@dataclass
class SpendTracker:
    """Spend figures per session, from ModelUsage/ModelFinished/SchedulerMetrics events.

    Running totals, so a reading costs O(1) however long the session: each call's cost
    (events carry the call's figure so far) adds only its change to its session, its turn
    and the day. Only the most recent calls are remembered, for their later events.
    """

    caps: dict[Scope, float | None] = field(default_factory=dict)
    warn_fraction: float = 0.8
    spent_today_before: float = 0.0  # the ledger's figure when the TUI opened
    _calls: OrderedDict[str, _Call] = field(default_factory=OrderedDict)
    _last_call: dict[str, _Call] = field(default_factory=dict)  # session -> its latest call
    _last_turn: dict[str, tuple[str, _Total]] = field(default_factory=dict)  # session -> turn
    _sessions: dict[str, _Total] = field(default_factory=dict)
    _local: _Total = field(default_factory=_Total)  # every call this TUI saw
    _day_from_metrics: float | None = None
    cutoffs: deque[BudgetCutoff] = field(default_factory=lambda: deque(maxlen=100))

    def ingest(self, event: Event, *, stored: bool = False) -> None:
        """Fold one event in; `stored` events are history redrawn from the store, whose spend
        the day's figure (read from the ledger when the TUI opened) already holds."""
        if stored and isinstance(event, ModelCallStarted | ModelUsage | ModelFinished):
            self._call(event.call_id, event.session_id, event.turn_id).stored = True
        if isinstance(event, ModelCallStarted):
            call = self._call(event.call_id, event.session_id, event.turn_id)
            self._update(call, call.cost_usd, event.provider == "builtin")
        elif isinstance(event, ModelUsage):
            call = self._call(event.call_id, event.session_id, event.turn_id)
            if event.cost_usd is not None:
                self._update(call, event.cost_usd, call.simulated)
            else:
                self._update(call, call.cost_usd, call.simulated, unpriced=True)
        elif isinstance(event, ModelFinished):
            call = self._call(event.call_id, event.session_id, event.turn_id)
            simulated = event.cost_simulated or event.provider == "builtin"
            cost = event.cost_usd if event.cost_usd is not None else call.cost_usd
            spent_tokens = event.usage.input_tokens + event.usage.output_tokens > 0
            unpriced = event.cost_usd is None and (spent_tokens or call.unpriced)
            self._update(call, cost, simulated, unpriced=unpriced)
        elif isinstance(event, SchedulerMetrics):
            for scope, (spent, cap) in event.spend.items():
                if scope in SCOPES:
                    self.caps[scope] = cap  # type: ignore[index]
                if scope == "day":
                    self._day_from_metrics = spent
        elif isinstance(event, BudgetCutoff):
            self.cutoffs.append(event)

    def _call(self, call_id: str, session_id: str | None, turn_id: str | None) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            call = self._calls[call_id] = _Call(session_id, turn_id)
            while len(self._calls) > RECENT_CALLS:
                self._calls.popitem(last=False)
        else:
            self._calls.move_to_end(call_id)
        if session_id:
            self._last_call[session_id] = call
            if turn_id and self._last_turn.get(session_id, ("",))[0] != turn_id:
                self._last_turn[session_id] = (turn_id, _Total())
        return call

    def _update(
        self, call: _Call, cost_usd: float, simulated: bool, unpriced: bool = False
    ) -> None:
        """The call's cost is now `cost_usd`: add the change to every total it counts in
        (and that its cost is unknown, when its model has no price)."""
        delta = cost_usd - call.cost_usd
        call.cost_usd, call.simulated = cost_usd, call.simulated or simulated
        call.unpriced = unpriced
        if not call.stored:
            self._local.add(delta, call.simulated, unpriced)
        if call.session_id:
            self._sessions.setdefault(call.session_id, _Total()).add(
                delta, call.simulated, unpriced
            )
            turn = self._last_turn.get(call.session_id)
            if turn is not None and turn[0] == call.turn_id:
                turn[1].add(delta, call.simulated, unpriced)

    def readings(self, session_id: str | None) -> list[MeterReading]:
        """The four meters for the session in the focused pane."""
        key = session_id or ""
        last_call = self._last_call.get(key)
        turn = self._last_turn.get(key, ("", _Total()))[1]
        session = self._sessions.get(key, _Total())
        spent: dict[Scope, float] = {
            "call": last_call.cost_usd if last_call else 0.0,
            "turn": turn.cost_usd,
            "session": session.cost_usd,
            "day": self.day_spent(),
        }
        simulated: dict[Scope, bool] = {
            "call": bool(last_call and last_call.simulated),
            "turn": turn.simulated,
            "session": session.simulated,
            "day": self._local.simulated,
        }
        unknown: dict[Scope, bool] = {
            "call": bool(last_call and last_call.unpriced),
            "turn": turn.unpriced,
            "session": session.unpriced,
            "day": self._local.unpriced,
        }
        return [
            MeterReading(
                scope=scope,
                spent_usd=spent[scope],
                cap_usd=self.caps.get(scope),
                level=level_for(spent[scope], self.caps.get(scope), self.warn_fraction),
                simulated=simulated[scope],
                unknown=unknown[scope],
            )
            for scope in SCOPES
        ]

    def day_spent(self) -> float:
        # Both are lower bounds: the ledger's figure (from metrics) sees other processes but is
        # only as fresh as the last metrics event; our own calls are fresh but local.
        local = self.spent_today_before + self._local.cost_usd
        return max(local, self._day_from_metrics or 0.0)


@dataclass(frozen=True)
class QueueReading:
    """The scheduler's figures, with cool-downs counted down to `now`."""

    in_flight: int
    queued: int
    capacity: int
    tokens_per_s: float
    usd_per_min: float
    cooldowns: dict[str, float]


@dataclass
class QueueTracker:
    """The latest SchedulerMetrics, and when it was taken (for counting cool-downs down)."""

    latest: SchedulerMetrics | None = None

    def ingest(self, event: Event) -> None:
        if isinstance(event, SchedulerMetrics):
            self.latest = event

    def reading(self, now: float) -> QueueReading | None:
        metrics = self.latest
        if metrics is None:
            return None
        elapsed = max(0.0, now - metrics.ts)
        cooldowns = {
            provider: left - elapsed
            for provider, left in sorted(metrics.cooldowns.items())
            if left - elapsed > 0
        }
        return QueueReading(
            in_flight=metrics.in_flight,
            queued=metrics.queued,
            capacity=metrics.capacity,
            tokens_per_s=metrics.tokens_per_s,
            usd_per_min=metrics.usd_per_min,
            cooldowns=cooldowns,
        )
