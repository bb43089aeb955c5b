"""The pure core by plain assertions: one behaviour of the turn state machine per test."""

from __future__ import annotations

from opscopilot.agent import (
    ApprovalDecided,
    ApprovalExpired,
    BudgetHit,
    CallModel,
    Cancel,
    ClassifyTools,
    Emit,
    ModelFailed,
    ModelFinished,
    RequestApproval,
    Resumed,
    RetryDue,
    RunTool,
    ScheduleRetry,
    Stop,
    ToolFinished,
    ToolOutcomeUnknown,
    TurnState,
    WaitForApproval,
    cmd,
)
from opscopilot.llm.types import ErrorInfo, Usage

from .helpers import call_hash, classify, of_type, start, tool_call


def test_a_turn_starts_by_calling_the_model_with_the_prompt() -> None:
    state, directives = start()
    assert state.status == "calling_model"
    (call,) = of_type(directives, CallModel)
    assert call.call_id == "t1-m1"
    assert [m.text for m in call.messages] == ["why is the disk full?"]


def test_an_answer_without_tool_calls_completes_the_turn_with_its_usage() -> None:
    state, _ = start()
    usage = Usage(input_tokens=10, output_tokens=5)
    state, directives = cmd(
        state, ModelFinished("t1-m1", 2.0, text="All fine.", usage=usage, cost_usd=0.25)
    )
    assert state.status == "completed"
    assert state.text == "All fine."
    assert state.usage == usage and state.cost_usd == 0.25
    assert of_type(directives, Stop) == [Stop("completed", "the model finished (stop)")]


def test_a_read_call_runs_without_asking_and_its_result_goes_back_to_the_model() -> None:
    state, _ = start()
    state, directives = cmd(
        state, ModelFinished("t1-m1", 2.0, tool_calls=(tool_call("c1", command="df -h"),))
    )
    assert state.status == "tools_proposed"
    assert len(of_type(directives, ClassifyTools)) == 1
    state, directives = classify(state, {"c1": ("read", "run")})
    (run,) = of_type(directives, RunTool)
    assert run.arguments == {"command": "df -h"} and run.approved_shell is False
    assert state.status == "running_tools"
    state, directives = cmd(state, ToolFinished(run.run_id, "ok", "/ is 91% full", 4.0))
    (call,) = of_type(directives, CallModel)
    assert call.messages[-1].parts[0].content == "/ is 91% full"
    assert state.status == "calling_model" and state.model_calls == 2


def test_a_write_call_waits_for_approval_and_runs_only_after_it() -> None:
    state, _ = start()
    state, _ = cmd(
        state,
        ModelFinished(
            "t1-m1", 2.0, tool_calls=(tool_call("c1", command="systemctl restart nginx"),)
        ),
    )
    state, directives = classify(state, {"c1": ("write", "ask")})
    assert not of_type(directives, RunTool)
    (request,) = of_type(directives, RequestApproval)
    assert of_type(directives, WaitForApproval) == [WaitForApproval((request.approval_id,))]
    assert state.status == "awaiting_approval"
    assert state.pending_approvals == [request.approval_id]
    restored = TurnState.from_snapshot(state.to_snapshot())
    assert restored == state
    state, directives = cmd(
        restored,
        ApprovalDecided(request.approval_id, "approved", request.call_hash, 5.0, operator="alice"),
    )
    (run,) = of_type(directives, RunTool)
    assert run.approved_shell is True and run.call_hash == request.call_hash


def test_an_approval_bound_to_another_hash_runs_nothing() -> None:
    state, _ = start()
    state, _ = cmd(
        state, ModelFinished("t1-m1", 2.0, tool_calls=(tool_call("c1", command="rm x"),))
    )
    state, directives = classify(state, {"c1": ("destructive", "ask")})
    (request,) = of_type(directives, RequestApproval)
    state, directives = cmd(state, ApprovalDecided(request.approval_id, "approved", "other", 5.0))
    assert not of_type(directives, RunTool)
    assert state.status == "awaiting_approval"


def test_edited_arguments_are_a_new_call_and_the_one_that_runs() -> None:
    state, _ = start()
    state, _ = cmd(
        state, ModelFinished("t1-m1", 2.0, tool_calls=(tool_call("c1", command="rm -rf /var/log"),))
    )
    state, directives = classify(state, {"c1": ("destructive", "ask")})
    (request,) = of_type(directives, RequestApproval)
    edited = {"command": "rm /var/log/old.log"}
    new_hash = call_hash("run_command", edited)
    state, directives = cmd(
        state, ApprovalDecided(request.approval_id, "approved", new_hash, 5.0, arguments=edited)
    )
    (run,) = of_type(directives, RunTool)
    assert run.arguments == edited and run.call_hash == new_hash


def test_a_denied_call_tells_the_model_why_and_the_model_still_answers() -> None:
    state, _ = start()
    state, _ = cmd(
        state, ModelFinished("t1-m1", 2.0, tool_calls=(tool_call("c1", command="reboot"),))
    )
    state, directives = classify(state, {"c1": ("destructive", "ask")})
    (request,) = of_type(directives, RequestApproval)
    state, directives = cmd(
        state,
        ApprovalDecided(
            request.approval_id,
            "denied",
            request.call_hash,
            5.0,
            reason="not during business hours",
        ),
    )
    (call,) = of_type(directives, CallModel)
    result = call.messages[-1].parts[0]
    assert result.is_error and "not during business hours" in result.content
    state, directives = cmd(state, ModelFinished(call.call_id, 6.0, text="Then reboot later."))
    assert state.status == "completed"


def test_read_only_mode_denies_writes_automatically_whatever_the_policy_said() -> None:
    state, _ = start(mode="read-only")
    state, _ = cmd(
        state,
        ModelFinished(
            "t1-m1",
            2.0,
            tool_calls=(
                tool_call("c1", command="df -h"),
                tool_call("c2", command="systemctl restart nginx"),
            ),
        ),
    )
    state, directives = classify(state, {"c1": ("read", "run"), "c2": ("write", "run")})
    assert not of_type(directives, RequestApproval)
    (run,) = of_type(directives, RunTool)
    assert run.tool_call_id == "c1"
    denied = state.call("c2")
    assert denied is not None and denied.status == "denied" and "read-only" in denied.content


def test_mode_none_asks_even_for_reads() -> None:
    state, _ = start(mode="none")
    state, _ = cmd(state, ModelFinished("t1-m1", 2.0, tool_calls=(tool_call("c1", command="df"),)))
    state, directives = classify(state, {"c1": ("read", "run")})
    assert not of_type(directives, RunTool) and of_type(directives, RequestApproval)


def test_two_fully_denied_batches_in_a_row_end_the_turn_denied() -> None:
    state, _ = start(mode="read-only")
    for n in (1, 2):
        state, _ = cmd(
            state,
            ModelFinished(
                f"t1-m{state.id_seq}", 2.0, tool_calls=(tool_call(f"c{n}", command="reboot"),)
            ),
        )
        state, directives = classify(state, {f"c{n}": ("destructive", "ask")})
    assert state.status == "denied"
    assert of_type(directives, Stop)[0].status == "denied"


def test_max_model_calls_fails_the_turn_with_a_clear_reason() -> None:
    state, directives = start(max_model_calls=2)
    for n in range(2):
        (call,) = of_type(directives, CallModel)
        state, _ = cmd(
            state,
            ModelFinished(call.call_id, 2.0, tool_calls=(tool_call(f"c{n}", command="uptime"),)),
        )
        state, directives = classify(state, {f"c{n}": ("read", "run")})
        (run,) = of_type(directives, RunTool)
        state, directives = cmd(state, ToolFinished(run.run_id, "ok", "up 3 days", 3.0))
    assert state.status == "failed"
    assert "max_model_calls" in state.stop_reason


def test_unknown_outcome_of_a_write_goes_back_to_approval_and_never_reruns_by_itself() -> None:
    state, _ = start()
    state, _ = cmd(
        state,
        ModelFinished(
            "t1-m1", 2.0, tool_calls=(tool_call("c1", command="systemctl restart nginx"),)
        ),
    )
    state, directives = classify(state, {"c1": ("write", "run")})
    (run,) = of_type(directives, RunTool)
    state, directives = cmd(state, ToolOutcomeUnknown(run.run_id, 9.0))
    assert not of_type(directives, RunTool)
    (request,) = of_type(directives, RequestApproval)
    assert "outcome unknown" in request.reason
    assert state.status == "awaiting_approval"


def test_unknown_outcome_of_a_read_runs_it_again_under_a_new_run_id() -> None:
    state, _ = start()
    state, _ = cmd(state, ModelFinished("t1-m1", 2.0, tool_calls=(tool_call("c1", command="df"),)))
    state, directives = classify(state, {"c1": ("read", "run")})
    (first,) = of_type(directives, RunTool)
    state, directives = cmd(state, ToolOutcomeUnknown(first.run_id, 9.0))
    (again,) = of_type(directives, RunTool)
    assert again.run_id != first.run_id and again.arguments == first.arguments


def test_resume_reissues_the_running_tool_under_the_same_run_id() -> None:
    state, _ = start()
    state, _ = cmd(state, ModelFinished("t1-m1", 2.0, tool_calls=(tool_call("c1", command="df"),)))
    state, directives = classify(state, {"c1": ("read", "run")})
    (run,) = of_type(directives, RunTool)
    restored = TurnState.from_snapshot(state.to_snapshot())
    _, directives = cmd(restored, Resumed(10.0))
    assert of_type(directives, RunTool) == [run]


def test_retryable_failure_schedules_a_retry_then_calls_again_uncounted() -> None:
    state, _ = start(retries=1)
    error = ErrorInfo(kind="overloaded", message="HTTP 529", retryable=True)
    state, directives = cmd(state, ModelFailed("t1-m1", error, 2.0, retry_after=1.5))
    assert of_type(directives, ScheduleRetry) == [ScheduleRetry("t1-m1", 1.5)]
    state, directives = cmd(state, RetryDue("t1-m1", 4.0))
    assert len(of_type(directives, CallModel)) == 1 and state.model_calls == 1
    state, directives = cmd(state, ModelFailed(state.pending_model_call, error, 5.0))
    assert state.status == "failed" and state.error == error


def test_budget_cut_off_keeps_the_partial_text() -> None:
    state, _ = start()
    state, _ = cmd(
        state,
        BudgetHit(
            3.0, "turn cap $0.01 reached", call_id="t1-m1", partial_text="The disk is full because"
        ),
    )
    assert state.status == "cut_off" and state.text == "The disk is full because"
    assert state.messages[-1].text == "The disk is full because"


def test_cancel_answers_calls_that_never_ran_so_the_history_stays_valid() -> None:
    state, _ = start()
    state, _ = cmd(state, ModelFinished("t1-m1", 2.0, tool_calls=(tool_call("c1", command="x"),)))
    state, _ = classify(state, {"c1": ("write", "ask")})
    state, _ = cmd(state, Cancel(5.0))
    assert state.status == "cancelled"
    assert state.messages[-1].role == "tool" and "Not run" in state.messages[-1].parts[0].content


def test_an_expired_approval_is_a_denial_that_says_so() -> None:
    state, _ = start()
    state, _ = cmd(state, ModelFinished("t1-m1", 2.0, tool_calls=(tool_call("c1", command="x"),)))
    state, directives = classify(state, {"c1": ("write", "ask")})
    (request,) = of_type(directives, RequestApproval)
    state, directives = cmd(state, ApprovalExpired(request.approval_id, 900.0, after_s=600))
    (call,) = of_type(directives, CallModel)
    assert "expired after 600 s" in call.messages[-1].parts[0].content
    decided = [d.event for d in of_type(directives, Emit) if d.event.type == "approval.decided"]
    assert decided[0].decision == "expired"


def test_a_finished_turn_ignores_every_further_action() -> None:
    state, _ = start()
    state, _ = cmd(state, ModelFinished("t1-m1", 2.0, text="done"))
    assert cmd(state, Cancel(3.0)) == (state, [])
    assert cmd(state, ModelFinished("t1-m1", 3.0, text="again")) == (state, [])


def test_repeated_tool_call_ids_from_the_model_get_unique_ones() -> None:
    state, _ = start()
    state, _ = cmd(
        state,
        ModelFinished(
            "t1-m1",
            2.0,
            tool_calls=(tool_call("call_0", command="df"), tool_call("call_0", command="free")),
        ),
    )
    ids = [c.id for c in state.calls]
    assert len(set(ids)) == 2
    assert [p.id for p in state.messages[-1].tool_calls] == ids
