"""One transition of a turn being built: the evolving state and the directives it asks for,
and the two moves every part of the core makes (call the model, finish the turn).

Part of the pure core (see core.py): no I/O, no clock, no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opscopilot import events as ev
from opscopilot.llm.types import ErrorInfo, Message

from .actions import CallModel, Directive, Emit, RecordMessage, Stop
from .state import ToolCallState, TurnState


@dataclass
class Step:
    """Accumulates one transition: the evolving state and the directives it produces."""

    state: TurnState
    now: float
    directives: list[Directive] = field(default_factory=list)

    def update(self, **changes: Any) -> None:
        self.state = self.state.model_copy(update=changes)

    def next_id(self, kind: str) -> str:
        seq = self.state.id_seq + 1
        self.update(id_seq=seq)
        return f"{self.state.turn_id}-{kind}{seq}"

    def emit(self, event_type: type[Any], **fields: Any) -> None:
        event = event_type(
            ts=self.now, session_id=self.state.session_id, turn_id=self.state.turn_id, **fields
        )
        self.directives.append(Emit(event))

    def notice(self, message: str, level: str = "warning") -> None:
        self.emit(ev.Notice, level=level, message=message)

    def move(self, status: str) -> None:
        previous = self.state.status
        self.update(status=status, updated_at=self.now)
        if previous != status:
            self.emit(ev.TurnStateChanged, previous=previous, state=status)

    def record(self, message: Message) -> None:
        self.update(messages=[*self.state.messages, message])
        self.directives.append(RecordMessage(message))

    def replace_call(self, call: ToolCallState) -> None:
        self.update(calls=[call if c.id == call.id else c for c in self.state.calls])

    def result(self) -> tuple[TurnState, list[Directive]]:
        return self.state, self.directives


def call_model(step: Step, *, counted: bool = True) -> None:
    state = step.state
    if counted and state.model_calls >= state.max_model_calls:
        finish(
            step,
            "failed",
            f"stopped after {state.max_model_calls} model calls (max_model_calls) "
            "without a final answer",
        )
        return
    call_id = step.next_id("m")
    step.update(model_calls=state.model_calls + (1 if counted else 0), pending_model_call=call_id)
    step.move("calling_model")
    step.directives.append(
        CallModel(call_id=call_id, messages=tuple(step.state.messages), attempt=1)
    )


def finish(step: Step, status: str, reason: str, *, error: ErrorInfo | None = None) -> None:
    """End the turn; calls that never got a result are answered so the history stays valid."""
    for call in step.state.calls:
        if call.settled:
            step.record(
                Message.tool_result(
                    call.id, call.content, is_error=call.result_status != "ok", name=call.name
                )
            )
        else:
            step.record(
                Message.tool_result(
                    call.id, f"Not run: the turn ended ({status}).", is_error=True, name=call.name
                )
            )
    step.update(
        finished_calls=[*step.state.finished_calls, *step.state.calls],
        calls=[],
        pending_model_call=None,
        stop_reason=reason,
        error=error,
    )
    step.move(status)
    state = step.state
    step.emit(
        ev.TurnFinished,
        status=status,
        text=state.text,
        usage=state.usage,
        cost_usd=state.cost_usd,
        error=error,
        reason=reason,
    )
    step.directives.append(Stop(status=status, reason=reason))
