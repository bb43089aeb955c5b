"""The tool half of the pure core: classified calls run, ask a person or are denied; decisions
and results come back; a settled batch goes back to the model.

A call the model got wrong (arguments that are not JSON, an unknown tool, arguments that do
not fit the tool's schema) is not a denial: it is answered with what was wrong so the model
can send it again, and a run of such batches ends the turn (bounded, like denials).
"""

from __future__ import annotations

import json
from typing import Any

from opscopilot import events as ev
from opscopilot.llm.types import Message

from .actions import (
    ApprovalDecided,
    ApprovalExpired,
    RequestApproval,
    RunTool,
    ToolFinished,
    ToolOutcomeUnknown,
    ToolsClassified,
    WaitForApproval,
)
from .state import ToolCallState
from .step import Step, call_model, finish

DENIED_BATCHES_LIMIT = 2  # after this many all-denied batches in a row, the turn ends `denied`
INVALID_BATCHES_LIMIT = 3  # after this many batches of only unusable calls, the turn fails


def tools_classified(step: Step, action: ToolsClassified) -> None:
    if step.state.status != "tools_proposed":
        step.notice("ignored a classification: no tool calls are waiting for one")
        return
    verdicts = {c.tool_call_id: c for c in action.classifications}
    mode = step.state.approve_mode
    for call in step.state.calls:
        if call.status != "proposed":
            continue
        verdict = verdicts.get(call.id)
        if verdict is not None and verdict.unusable:
            unusable(step, call.id, f"{verdict.unusable}. Correct the call and send it again")
            continue
        shell_by_rule = standing_rule = False
        if verdict is None:
            risk, decision, reason, call_hash = "destructive", "deny", "not classified", ""
        else:
            risk, decision, reason = verdict.risk, verdict.decision, verdict.reason
            call_hash, shell_by_rule = verdict.call_hash, verdict.shell_by_rule
            standing_rule = verdict.standing_rule
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
                "standing_rule": standing_rule and decision == "run",
            }
        )
        if decision == "run":
            call = call.model_copy(update={"status": "approved"})
        elif decision == "ask":
            call = _ask(step, call, reason)
        else:
            call = _deny(step, call, f"Denied by policy: {reason}")
        step.replace_call(call)
    advance(step)


def unusable(step: Step, tool_call_id: str, problem: str) -> None:
    """A call the model got wrong: not run, and the model is told exactly why (not a denial)."""
    call = next(c for c in step.state.calls if c.id == tool_call_id)
    content = f"Not run: {problem}."
    step.emit(
        ev.ToolFinished, tool_call_id=call.id, name=call.name, status="error", content=content
    )
    step.replace_call(
        call.model_copy(
            update={
                "status": "finished",
                "result_status": "error",
                "content": content,
                "unusable": True,
            }
        )
    )


def _ask(step: Step, call: ToolCallState, reason: str) -> ToolCallState:
    approval_id = step.next_id("a")
    call = call.model_copy(
        update={
            "status": "awaiting_approval",
            "approval_id": approval_id,
            "approved_by_operator": False,
            "run_id": None,
        }
    )
    step.directives.append(approval_request(call, reason))
    return call


def approval_request(call: ToolCallState, reason: str) -> RequestApproval:
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


def _deny(step: Step, call: ToolCallState, content: str) -> ToolCallState:
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


def advance(step: Step) -> None:
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
        step.directives.append(run_directive(runnable))
        return
    pending = step.state.pending_approvals
    if pending:
        step.move("awaiting_approval")
        step.directives.append(WaitForApproval(approval_ids=tuple(pending)))
        return
    _batch_settled(step)


def run_directive(call: ToolCallState) -> RunTool:
    assert call.run_id is not None and call.risk is not None
    return RunTool(
        run_id=call.run_id,
        tool_call_id=call.id,
        name=call.name,
        arguments=dict(call.run_arguments if call.run_arguments is not None else call.arguments),
        call_hash=call.run_hash,
        risk=call.risk,
        approved_shell=call.approved_by_operator or call.shell_by_rule,
        confined=not (call.approved_by_operator or call.standing_rule),
    )


def _batch_settled(step: Step) -> None:
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
    all_unusable = all(c.unusable for c in calls)
    denied_batches = step.state.denied_batches + 1 if all_denied else 0
    unusable_batches = step.state.unusable_batches + 1 if all_unusable else 0
    step.update(
        finished_calls=[*step.state.finished_calls, *calls],
        calls=[],
        denied_batches=denied_batches,
        unusable_batches=unusable_batches,
    )
    if denied_batches >= DENIED_BATCHES_LIMIT:
        finish(
            step,
            "denied",
            "ended without an answer: every tool call the model asked for was denied, "
            f"{denied_batches} times in a row",
        )
        return
    if unusable_batches >= INVALID_BATCHES_LIMIT:
        finish(
            step,
            "failed",
            "ended without an answer: the model kept asking for tool calls that could not "
            f"run, {unusable_batches} times in a row (last: {calls[-1].content})",
        )
        return
    call_model(step)


def approval_decided(step: Step, action: ApprovalDecided) -> None:
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
    advance(step)


def approval_expired(step: Step, action: ApprovalExpired) -> None:
    call = next((c for c in step.state.calls if c.approval_id == action.approval_id), None)
    if call is None or call.status != "awaiting_approval":
        return
    reason = f"the approval expired after {action.after_s:g} s without a decision"
    step.emit(ev.ApprovalDecided, approval_id=action.approval_id, decision="expired", reason=reason)
    step.replace_call(_deny(step, call, f"Not run: {reason}."))
    advance(step)


def _running_call(step: Step, run_id: str) -> ToolCallState | None:
    return next((c for c in step.state.calls if c.run_id == run_id and c.status == "running"), None)


def tool_finished(step: Step, action: ToolFinished) -> None:
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
    advance(step)


def tool_outcome_unknown(step: Step, action: ToolOutcomeUnknown) -> None:
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
    advance(step)
