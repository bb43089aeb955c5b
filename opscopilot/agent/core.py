"""The pure core of a turn: `cmd(state, action) -> (state, directives)`.

No I/O, no clock, no randomness: ids are derived from the turn id and a counter kept in
the state, and every timestamp comes in with the action. The runtime executes the
directives and feeds what happened back in as actions. A finished turn ignores everything;
an action that does not fit the current state (a stale result, an unknown approval) is
ignored with a notice rather than bending the state machine.
"""

from __future__ import annotations

from typing import Any

from opscopilot import events as ev
from opscopilot.llm.types import ErrorInfo, Message, TextPart, ThinkingPart, ToolCall, ToolCallPart

from .actions import (
    Action,
    ApprovalDecided,
    ApprovalExpired,
    BudgetHit,
    CallModel,
    Cancel,
    ClassifyTools,
    Directive,
    ModelFailed,
    ModelFinished,
    ModelOutcomeUnknown,
    Resumed,
    RetryDue,
    ScheduleRetry,
    ToolFinished,
    ToolOutcomeUnknown,
    ToolsClassified,
    TurnRequested,
    WaitForApproval,
)
from .state import ToolCallState, TurnState
from .step import Step, call_model, finish
from .tool_steps import (
    advance,
    approval_decided,
    approval_expired,
    approval_request,
    run_directive,
    tool_finished,
    tool_outcome_unknown,
    tools_classified,
    unusable,
)

DEFAULT_RETRY_DELAY_S = 2.0


def cmd(state: TurnState, action: Action) -> tuple[TurnState, list[Directive]]:
    """Apply one action to a turn; return the new state and the effects it asks for."""
    if isinstance(action, TurnRequested):
        if state.status != "ready" or state.turn_id:
            return state, []
        return _start(action)
    if state.terminal:
        return state, []
    handler = _HANDLERS.get(type(action))
    if handler is None:
        return state, []
    step = Step(state, action.now)
    handler(step, action)
    return step.result()


# --------------------------------------------------------------------------- model calls


def _start(action: TurnRequested) -> tuple[TurnState, list[Directive]]:
    state = TurnState(
        turn_id=action.turn_id,
        session_id=action.session_id,
        prompt=action.prompt,
        model=action.model,
        approve_mode=action.approve_mode,
        max_cost=action.max_cost,
        max_model_calls=max(action.max_model_calls, 1),
        retries_left=max(action.model_retries, 0),
        started_at=action.now,
        updated_at=action.now,
    )
    step = Step(state, action.now)
    step.emit(ev.TurnStarted, prompt=action.prompt, model=action.model)
    step.record(Message.user(action.prompt))
    call_model(step)
    return step.result()


# --------------------------------------------------------------------------- model calls


def _model_finished(step: Step, action: ModelFinished) -> None:
    state = step.state
    if state.status != "calling_model" or state.pending_model_call != action.call_id:
        step.notice(f"ignored a result for model call {action.call_id}: not the one in flight")
        return
    _add_spend(step, action.usage, action.cost_usd)
    step.update(pending_model_call=None, texts=[*state.texts, action.text])
    calls = _unique_ids(step, action.tool_calls)
    parts: list[Any] = []
    if action.thinking:
        parts.append(ThinkingPart(text=action.thinking, signature=action.thinking_signature))
    if action.text:
        parts.append(TextPart(text=action.text))
    parts += [ToolCallPart(id=c.id, name=c.name, arguments=c.arguments) for c in calls]
    step.record(Message(role="assistant", parts=parts))
    if not calls:
        if not step.state.text.strip():
            finish(
                step,
                "failed",
                f"the model ended the turn without an answer ({action.finish_reason})",
            )
            return
        finish(step, "completed", f"the model finished ({action.finish_reason})")
        return
    step.update(calls=[ToolCallState(id=c.id, name=c.name, arguments=c.arguments) for c in calls])
    step.move("tools_proposed")
    readable = [c for c in calls if c.arguments_error is None]
    for call in calls:
        if call.arguments_error is not None:
            unusable(
                step,
                call.id,
                f"the arguments of this {call.name} call could not be read: "
                f"{call.arguments_error}. Send the call again with its arguments as one JSON "
                "object",
            )
    if readable:
        step.directives.append(ClassifyTools(calls=tuple(readable)))
    else:
        advance(step)


def _unique_ids(step: Step, calls: tuple[ToolCall, ...]) -> list[ToolCall]:
    """Tool results are matched by id, so a missing or repeated id gets one of ours."""
    seen = {c.id for c in step.state.all_calls}
    unique: list[ToolCall] = []
    for call in calls:
        call_id = call.id
        if not call_id or call_id in seen:
            call_id = step.next_id("c")
        seen.add(call_id)
        unique.append(
            ToolCall(
                id=call_id,
                name=call.name,
                arguments=dict(call.arguments),
                arguments_error=call.arguments_error,
            )
        )
    return unique


def _model_failed(step: Step, action: ModelFailed) -> None:
    state = step.state
    if state.status != "calling_model" or state.pending_model_call != action.call_id:
        step.notice(f"ignored a failure of model call {action.call_id}: not the one in flight")
        return
    _add_spend(step, action.usage, action.cost_usd)
    error = action.error
    if error.kind == "budget":
        _keep_partial(step, action.partial_text)
        finish(step, "cut_off", error.message, error=error)
    elif error.kind == "cancelled":
        _keep_partial(step, action.partial_text)
        finish(step, "cancelled", error.message, error=error)
    elif error.retryable and state.retries_left > 0:
        delay = action.retry_after if action.retry_after is not None else DEFAULT_RETRY_DELAY_S
        step.update(retries_left=state.retries_left - 1)
        step.directives.append(ScheduleRetry(call_id=action.call_id, delay_s=max(delay, 0.0)))
    else:
        _keep_partial(step, action.partial_text)
        finish(step, "failed", error.message, error=error)


def _retry_due(step: Step, action: RetryDue | ModelOutcomeUnknown) -> None:
    if step.state.status != "calling_model" or step.state.pending_model_call != action.call_id:
        return
    call_model(step, counted=False)


def _budget_hit(step: Step, action: BudgetHit) -> None:
    if step.state.status != "calling_model" or (
        action.call_id is not None and action.call_id != step.state.pending_model_call
    ):
        return  # caps are checked around model calls; nothing else spends
    _add_spend(step, action.usage, action.cost_usd)
    _keep_partial(step, action.partial_text)
    finish(
        step,
        "cut_off",
        action.reason,
        error=ErrorInfo(kind="budget", message=action.reason, retryable=False),
    )


def _keep_partial(step: Step, text: str) -> None:
    """A cut-off answer keeps what streamed before the cut, in the turn and the history."""
    if text:
        step.update(texts=[*step.state.texts, text], pending_model_call=None)
        step.record(Message.assistant(text))


def _add_spend(step: Step, usage: Any, cost_usd: float | None) -> None:
    state = step.state
    cost = state.cost_usd
    if cost_usd is not None:
        cost = (cost or 0.0) + cost_usd
    step.update(usage=state.usage + usage, cost_usd=cost)


# --------------------------------------------------------------------------- lifecycle


def _resumed(step: Step, action: Resumed) -> None:
    """Re-issue what the snapshot was waiting on; the runtime's journal makes that idempotent."""
    state = step.state
    step.notice(f"resumed turn in state {state.status}", level="info")
    if state.status == "calling_model" and state.pending_model_call:
        step.directives.append(
            CallModel(call_id=state.pending_model_call, messages=tuple(state.messages))
        )
    elif state.status == "tools_proposed":
        step.directives.append(
            ClassifyTools(
                calls=tuple(
                    ToolCall(id=c.id, name=c.name, arguments=c.arguments)
                    for c in state.calls
                    if c.status == "proposed"
                )
            )
        )
    elif state.status in ("awaiting_approval", "running_tools"):
        for call in state.calls:
            if call.status == "awaiting_approval":
                step.directives.append(approval_request(call, call.reason))
        running = next((c for c in state.calls if c.status == "running"), None)
        if running is not None:
            step.directives.append(run_directive(running))
        elif state.pending_approvals:
            step.directives.append(WaitForApproval(approval_ids=tuple(state.pending_approvals)))
        else:
            advance(step)
    elif state.status == "ready":
        call_model(step)


def _cancel(step: Step, action: Cancel) -> None:
    finish(
        step,
        "cancelled",
        action.reason,
        error=ErrorInfo(kind="cancelled", message=action.reason, retryable=False),
    )


_HANDLERS: dict[type, Any] = {
    ModelFinished: _model_finished,
    ModelFailed: _model_failed,
    ModelOutcomeUnknown: _retry_due,
    RetryDue: _retry_due,
    ToolsClassified: tools_classified,
    ApprovalDecided: approval_decided,
    ApprovalExpired: approval_expired,
    ToolFinished: tool_finished,
    ToolOutcomeUnknown: tool_outcome_unknown,
    Resumed: _resumed,
    Cancel: _cancel,
    BudgetHit: _budget_hit,
}
