"""The pure core of a turn: `cmd(state, action) -> (state, directives)`.

No I/O, no clock, no randomness: ids are derived from the turn id and a counter kept in
the state, and every timestamp comes in with the action. The runtime executes the
directives and feeds what happened back in as actions. A finished turn ignores everything;
an action that does not fit the current state (a stale result, an unknown approval) is
ignored with a notice rather than bending the state machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
    Emit,
    ModelFailed,
    ModelFinished,
    ModelOutcomeUnknown,
    RecordMessage,
    RequestApproval,
    Resumed,
    RetryDue,
    RunTool,
    ScheduleRetry,
    Stop,
    ToolFinished,
    ToolOutcomeUnknown,
    ToolsClassified,
    TurnRequested,
    WaitForApproval,
)
from .state import ToolCallState, TurnState

DEFAULT_RETRY_DELAY_S = 2.0
DENIED_BATCHES_LIMIT = 2  # after this many all-denied batches in a row, the turn ends `denied`


@dataclass
class _Step:
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
    step = _Step(state, action.now)
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
    step = _Step(state, action.now)
    step.emit(ev.TurnStarted, prompt=action.prompt, model=action.model)
    step.record(Message.user(action.prompt))
    _call_model(step)
    return step.result()


def _call_model(step: _Step, *, counted: bool = True) -> None:
    state = step.state
    if counted and state.model_calls >= state.max_model_calls:
        _finish(
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


def _model_finished(step: _Step, action: ModelFinished) -> None:
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
        _finish(step, "completed", f"the model finished ({action.finish_reason})")
        return
    step.update(calls=[ToolCallState(id=c.id, name=c.name, arguments=c.arguments) for c in calls])
    step.move("tools_proposed")
    step.directives.append(ClassifyTools(calls=tuple(calls)))


def _unique_ids(step: _Step, calls: tuple[ToolCall, ...]) -> list[ToolCall]:
    """Tool results are matched by id, so a missing or repeated id gets one of ours."""
    seen = {c.id for c in step.state.all_calls}
    unique: list[ToolCall] = []
    for call in calls:
        call_id = call.id
        if not call_id or call_id in seen:
            call_id = step.next_id("c")
        seen.add(call_id)
        unique.append(ToolCall(id=call_id, name=call.name, arguments=dict(call.arguments)))
    return unique


def _model_failed(step: _Step, action: ModelFailed) -> None:
    state = step.state
    if state.status != "calling_model" or state.pending_model_call != action.call_id:
        step.notice(f"ignored a failure of model call {action.call_id}: not the one in flight")
        return
    _add_spend(step, action.usage, action.cost_usd)
    error = action.error
    if error.kind == "budget":
        _keep_partial(step, action.partial_text)
        _finish(step, "cut_off", error.message, error=error)
    elif error.kind == "cancelled":
        _keep_partial(step, action.partial_text)
        _finish(step, "cancelled", error.message, error=error)
    elif error.retryable and state.retries_left > 0:
        delay = action.retry_after if action.retry_after is not None else DEFAULT_RETRY_DELAY_S
        step.update(retries_left=state.retries_left - 1)
        step.directives.append(ScheduleRetry(call_id=action.call_id, delay_s=max(delay, 0.0)))
    else:
        _keep_partial(step, action.partial_text)
        _finish(step, "failed", error.message, error=error)


def _retry_due(step: _Step, action: RetryDue | ModelOutcomeUnknown) -> None:
    if step.state.status != "calling_model" or step.state.pending_model_call != action.call_id:
        return
    _call_model(step, counted=False)


def _budget_hit(step: _Step, action: BudgetHit) -> None:
    if step.state.status != "calling_model" or (
        action.call_id is not None and action.call_id != step.state.pending_model_call
    ):
        return  # caps are checked around model calls; nothing else spends
    _add_spend(step, action.usage, action.cost_usd)
    _keep_partial(step, action.partial_text)
    _finish(
        step,
        "cut_off",
        action.reason,
        error=ErrorInfo(kind="budget", message=action.reason, retryable=False),
    )


def _keep_partial(step: _Step, text: str) -> None:
    """A cut-off answer keeps what streamed before the cut, in the turn and the history."""
    if text:
        step.update(texts=[*step.state.texts, text], pending_model_call=None)
        step.record(Message.assistant(text))


def _add_spend(step: _Step, usage: Any, cost_usd: float | None) -> None:
    state = step.state
    cost = state.cost_usd
    if cost_usd is not None:
        cost = (cost or 0.0) + cost_usd
    step.update(usage=state.usage + usage, cost_usd=cost)


# --------------------------------------------------------------------------- tools


def _tools_classified(step: _Step, action: ToolsClassified) -> None:
    if step.state.status != "tools_proposed":
        step.notice("ignored a classification: no tool calls are waiting for one")
        return
    verdicts = {c.tool_call_id: c for c in action.classifications}
    mode = step.state.approve_mode
    for call in step.state.calls:
        if call.status != "proposed":
            continue
        verdict = verdicts.get(call.id)
        shell_by_rule = False
        if verdict is None:
            risk, decision, reason, call_hash = "destructive", "deny", "not classified", ""
        else:
            risk, decision, reason = verdict.risk, verdict.decision, verdict.reason
            call_hash, shell_by_rule = verdict.call_hash, verdict.shell_by_rule
        # The mode is enforced here too, whatever the policy said: read-only never writes
        # and `none` never runs without a person.
        if mode == "read-only" and decision != "deny" and (risk != "read" or decision == "ask"):
            decision, reason = "deny", f"read-only mode denies {risk} calls ({reason})"
        elif mode == "none" and decision == "run":
            decision = "ask"
        step.emit(
            ev.ToolProposed,
            tool_call_id=call.id,
            name=call.name,
            arguments=call.arguments,
            risk=risk,
            reason=reason,
        )
        call = call.model_copy(
            update={
                "risk": risk,
                "decision": decision,
                "reason": reason,
                "call_hash": call_hash,
                "run_arguments": call.arguments,
                "run_hash": call_hash,
                "shell_by_rule": shell_by_rule and decision == "run",
            }
        )
        if decision == "run":
            call = call.model_copy(update={"status": "approved"})
        elif decision == "ask":
            call = _ask(step, call, reason)
        else:
            call = _deny(step, call, f"Denied by policy: {reason}")
        step.replace_call(call)
    _advance(step)


def _ask(step: _Step, call: ToolCallState, reason: str) -> ToolCallState:
    approval_id = step.next_id("a")
    call = call.model_copy(
        update={
            "status": "awaiting_approval",
            "approval_id": approval_id,
            "approved_by_operator": False,
            "run_id": None,
        }
    )
    step.directives.append(_approval_request(call, reason))
    return call


def _approval_request(call: ToolCallState, reason: str) -> RequestApproval:
    assert call.approval_id is not None and call.risk is not None
    return RequestApproval(
        approval_id=call.approval_id,
        tool_call_id=call.id,
        name=call.name,
        arguments=dict(call.run_arguments if call.run_arguments is not None else call.arguments),
        risk=call.risk,
        reason=reason,
        call_hash=call.run_hash,
    )


def _deny(step: _Step, call: ToolCallState, content: str) -> ToolCallState:
    step.emit(
        ev.ToolFinished, tool_call_id=call.id, name=call.name, status="denied", content=content
    )
    return call.model_copy(
        update={
            "status": "denied",
            "result_status": "denied",
            "content": content,
        }
    )


def _advance(step: _Step) -> None:
    """Start the next approved call, or wait for a person, or hand the results to the model."""
    calls = step.state.calls
    if any(c.status == "running" for c in calls):
        return
    runnable = next((c for c in calls if c.status == "approved"), None)
    if runnable is not None:
        run_id = step.next_id("r")
        runnable = runnable.model_copy(update={"status": "running", "run_id": run_id})
        step.replace_call(runnable)
        step.move("running_tools")
        step.directives.append(_run_directive(runnable))
        return
    pending = step.state.pending_approvals
    if pending:
        step.move("awaiting_approval")
        step.directives.append(WaitForApproval(approval_ids=tuple(pending)))
        return
    _batch_settled(step)


def _run_directive(call: ToolCallState) -> RunTool:
    assert call.run_id is not None and call.risk is not None
    return RunTool(
        run_id=call.run_id,
        tool_call_id=call.id,
        name=call.name,
        arguments=dict(call.run_arguments if call.run_arguments is not None else call.arguments),
        call_hash=call.run_hash,
        risk=call.risk,
        approved_shell=call.approved_by_operator or call.shell_by_rule,
    )


def _batch_settled(step: _Step) -> None:
    calls = step.state.calls
    for call in calls:
        content = call.content
        if call.run_arguments is not None and call.run_arguments != call.arguments:
            # The model must know it is reading the result of the operator's edit, not its ask.
            edited = json.dumps(call.run_arguments, ensure_ascii=False, sort_keys=True)
            content = f"The operator edited the arguments before approving; it ran with {edited}.\n{content}"
        step.record(
            Message.tool_result(
                call.id, content, is_error=call.result_status != "ok", name=call.name
            )
        )
    all_denied = all(c.status == "denied" for c in calls)
    denied_batches = step.state.denied_batches + 1 if all_denied else 0
    step.update(
        finished_calls=[*step.state.finished_calls, *calls],
        calls=[],
        denied_batches=denied_batches,
    )
    if denied_batches >= DENIED_BATCHES_LIMIT:
        _finish(
            step,
            "denied",
            f"every tool call the model asked for was denied, {denied_batches} times in a row",
        )
        return
    _call_model(step)


def _approval_decided(step: _Step, action: ApprovalDecided) -> None:
    call = next((c for c in step.state.calls if c.approval_id == action.approval_id), None)
    if call is None or call.status != "awaiting_approval":
        step.notice(f"ignored decision on {action.approval_id}: it is not pending in this turn")
        return
    edited = action.arguments
    if action.decision == "approved" and edited is None and action.call_hash != call.run_hash:
        step.notice(f"ignored approval {action.approval_id}: it is bound to another call")
        return
    # The decision comes first in the event stream, then what it causes.
    step.emit(
        ev.ApprovalDecided,
        approval_id=action.approval_id,
        decision=action.decision,
        operator=action.operator,
        host=action.host,
        channel=action.channel,
        reason=action.reason,
        arguments=edited,
    )
    if action.decision == "approved":
        update: dict[str, Any] = {"status": "approved", "approved_by_operator": True}
        if edited is not None:
            update |= {"run_arguments": dict(edited), "run_hash": action.call_hash}
        call = call.model_copy(update=update)
    else:
        reason = f": {action.reason}" if action.reason else ""
        call = _deny(step, call, f"The operator denied this call{reason}.")
    step.replace_call(call)
    _advance(step)


def _approval_expired(step: _Step, action: ApprovalExpired) -> None:
    call = next((c for c in step.state.calls if c.approval_id == action.approval_id), None)
    if call is None or call.status != "awaiting_approval":
        return
    reason = f"the approval expired after {action.after_s:g} s without a decision"
    step.emit(ev.ApprovalDecided, approval_id=action.approval_id, decision="expired", reason=reason)
    step.replace_call(_deny(step, call, f"Not run: {reason}."))
    _advance(step)


def _running_call(step: _Step, run_id: str) -> ToolCallState | None:
    return next((c for c in step.state.calls if c.run_id == run_id and c.status == "running"), None)


def _tool_finished(step: _Step, action: ToolFinished) -> None:
    call = _running_call(step, action.run_id)
    if call is None:
        step.notice(f"ignored a result for tool run {action.run_id}: it is not running")
        return
    step.emit(
        ev.ToolFinished,
        tool_call_id=call.id,
        name=call.name,
        status=action.status,
        content=action.content,
        duration_s=action.duration_s,
    )
    step.replace_call(
        call.model_copy(
            update={
                "status": "finished",
                "result_status": action.status,
                "content": action.content,
            }
        )
    )
    _advance(step)


def _tool_outcome_unknown(step: _Step, action: ToolOutcomeUnknown) -> None:
    """A run that may or may not have happened: reads run again, anything else asks a person."""
    call = _running_call(step, action.run_id)
    if call is None:
        return
    if call.risk == "read":
        step.notice(f"re-running read-only {call.name}: its earlier run left no result")
        step.replace_call(call.model_copy(update={"status": "approved", "run_id": None}))
    else:
        reason = (
            f"outcome unknown: the process stopped while this {call.risk} call ran; "
            "approve to run it again, deny to leave it"
        )
        step.notice(f"{call.name} may or may not have run; asking the operator again")
        step.replace_call(_ask(step, call, reason))
    _advance(step)


# --------------------------------------------------------------------------- lifecycle


def _resumed(step: _Step, action: Resumed) -> None:
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
                step.directives.append(_approval_request(call, call.reason))
        running = next((c for c in state.calls if c.status == "running"), None)
        if running is not None:
            step.directives.append(_run_directive(running))
        elif state.pending_approvals:
            step.directives.append(WaitForApproval(approval_ids=tuple(state.pending_approvals)))
        else:
            _advance(step)
    elif state.status == "ready":
        _call_model(step)


def _cancel(step: _Step, action: Cancel) -> None:
    _finish(
        step,
        "cancelled",
        action.reason,
        error=ErrorInfo(kind="cancelled", message=action.reason, retryable=False),
    )


def _finish(step: _Step, status: str, reason: str, *, error: ErrorInfo | None = None) -> None:
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


_HANDLERS: dict[type, Any] = {
    ModelFinished: _model_finished,
    ModelFailed: _model_failed,
    ModelOutcomeUnknown: _retry_due,
    RetryDue: _retry_due,
    ToolsClassified: _tools_classified,
    ApprovalDecided: _approval_decided,
    ApprovalExpired: _approval_expired,
    ToolFinished: _tool_finished,
    ToolOutcomeUnknown: _tool_outcome_unknown,
    Resumed: _resumed,
    Cancel: _cancel,
    BudgetHit: _budget_hit,
}
