"""The TUI's one doorway to the engine: start and resume turns, read and decide approvals,
list sessions, subscribe to events. Widgets never call this directly; the app's workers do.

`Engine` is the protocol the app needs; `RuntimeEngine` (opscopilot/tui/runtime_engine.py)
implements it over the runtime and the store. Everything here is free of Textual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from opscopilot.events import Event

Decision = Literal["approved", "denied"]


class EngineError(Exception):
    """An engine action failed; `kind` says how, the message is one operator-readable line."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class AllowRuleView:
    """An always-allow rule as the rules screen lists it."""

    id: int
    tool: str
    command: str | None
    created_at: float

    @property
    def what(self) -> str:
        return f"`{self.command}`" if self.command else f"every {self.tool} call"


@dataclass(frozen=True)
class ApprovalView:
    """A pending approval as the reviews panel shows it."""

    id: str
    session_id: str
    turn_id: str
    tool: str
    arguments: dict[str, Any]
    risk: str
    reason: str
    requested_at: float
    tool_call_id: str = ""

    @classmethod
    def from_record(cls, record: Any) -> ApprovalView:
        """Build from the store's ApprovalRecord (or anything with the same fields)."""
        return cls(
            id=record.id,
            session_id=record.session_id,
            turn_id=record.turn_id,
            tool=record.tool,
            arguments=dict(record.arguments or {}),
            risk=record.risk,
            reason=record.reason or "",
            requested_at=_as_seconds(record.requested_at),
            tool_call_id=getattr(record, "tool_call_id", "") or "",
        )


@dataclass(frozen=True)
class SessionView:
    """A stored session in the session list."""

    id: str
    model: str
    title: str
    created_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: Any) -> SessionView:
        return cls(
            id=record.id,
            model=getattr(record, "model", "") or "",
            title=getattr(record, "title", "") or "",
            created_at=_as_seconds(getattr(record, "created_at", 0.0)),
        )


def _as_seconds(value: Any) -> float:
    """Timestamps are epoch seconds in the contracts; accept datetimes too, defensively."""
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


class Engine(Protocol):
    """What the TUI needs from the runtime and the store."""

    def subscribe(self) -> AsyncIterator[Event]:
        """Every event the engine publishes from now on, in order."""
        ...

    async def start_turn(self, session_id: str, prompt: str, *, model: str) -> None:
        """Run one turn in `session_id` (created when new); its events come via subscribe()."""
        ...

    async def resume(self, turn_id: str) -> None:
        """Continue a paused turn after its approvals were decided."""
        ...

    async def cancel(self, turn_id: str) -> None:
        """Stop a running or paused turn; its events say how it ended."""
        ...

    async def run_metrics(self) -> None:
        """Until cancelled: publish the queue's figures (SchedulerMetrics) while turns run."""
        ...

    def pending_approvals(
        self, *, turn_id: str | None = None, limit: int | None = None
    ) -> list[ApprovalView]:
        """Blocking read of pending approvals (a turn's, or all), across sessions and
        processes, oldest first; at most `limit`."""
        ...

    def pending_count(self) -> int:
        """Blocking: how many approvals are pending in all."""
        ...

    async def decide(
        self,
        approval_id: str,
        decision: Decision,
        *,
        reason: str = "",
        arguments: dict[str, Any] | None = None,
    ) -> None:
        """Record a decision (edited arguments are validated); EngineError "conflict" if late."""
        ...

    async def allow_always(self, session_id: str, tool: str, command: str | None) -> None:
        """Stop asking about this tool (and exact command) in this session."""
        ...

    def allow_rules(self, session_id: str) -> list[AllowRuleView]:
        """Blocking: the session's always-allow rules in force."""
        ...

    def revoke_rule(self, rule_id: int) -> None:
        """Blocking: end one always-allow rule (EngineError "not_found" if already gone)."""
        ...

    def validate_arguments(self, tool: str, arguments: dict[str, Any]) -> str | None:
        """None when `arguments` fit the tool's schema, else one readable line."""
        ...

    def sessions(self) -> list[SessionView]:
        """Blocking: stored sessions, newest first."""
        ...

    def session_events(self, session_id: str) -> list[Event]:
        """Blocking: a stored session's events, to redraw it in a pane."""
        ...

    def earlier_turns(self, session_id: str, before: int) -> list[tuple[str, str, str]]:
        """Blocking: (prompt, status, answer) of the session's first `before` turns, from
        the store (the turns a pane no longer shows)."""
        ...

    def foreign_events(self, sessions: Callable[[], Collection[str]]) -> AsyncIterator[Event]:
        """Until cancelled: events other processes store for these sessions, as committed."""
        ...

    # Optional: `approval_changes()`, an async iterator yielding once each time approvals are
    # requested or decided anywhere; an engine that has it is re-read on those pushes
    # instead of every `poll_interval`.

    def models(self) -> list[str]:
        """Model specs the picker offers."""
        ...

    async def aclose(self) -> None:
        """Release async resources (HTTP clients); called as the app exits."""
        ...

    def close(self) -> None:
        """Release the rest (the database); called after the app exited."""
        ...
