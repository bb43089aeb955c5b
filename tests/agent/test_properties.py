"""Property tests of the pure core: random action sequences against the turn's invariants."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opscopilot.agent import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    ApprovalDecided,
    ApprovalExpired,
    BudgetHit,
    CallClassification,
    CallModel,
    Cancel,
    ClassifyTools,
    Emit,
    ModelFailed,
    ModelFinished,
    ModelOutcomeUnknown,
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
    TurnState,
    cmd,
)
from opscopilot.llm.types import ErrorInfo, ToolCall

from .helpers import call_hash

MODES = ("ask", "read-only", "all", "none")
RISKS = ("read", "write", "destructive")
DECISIONS = ("run", "ask", "deny")
ERROR_KINDS = ("server", "rate_limit", "auth", "budget", "cancelled", "timeout")


class Ledger:
    """What the test has granted so far: the only grounds on which a tool may run."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.policy_runs: set[tuple[str, str]] = set()  # (tool_call_id, hash) the policy let run
        self.shell_rules: set[tuple[str, str]] = set()  # ... and also granted a shell
        self.approvals: set[tuple[str, str]] = set()  # (approval_id, hash) an operator approved
        self.risks: dict[str, str] = {}
        self.open_model_call: str | None = None
        self.retry_call: str | None = None
        self.requests: dict[str, RequestApproval] = {}
        self.runs: dict[str, RunTool] = {}
        self.finished_calls: set[str] = set()

    def observe(self, directives: list[Any]) -> None:
        for d in directives:
            if isinstance(d, CallModel):
                self.open_model_call = d.call_id
            elif isinstance(d, ScheduleRetry):
                self.retry_call = d.call_id
            elif isinstance(d, RequestApproval):
                self.requests[d.approval_id] = d
            elif isinstance(d, RunTool):
                self.runs[d.run_id] = d


def check_invariants(
    before: TurnState, after: TurnState, directives: list[Any], led: Ledger, action: Any
) -> None:
    assert after.status in TRANSITIONS
    # every status change is a legal transition, in order
    previous = before.status
    for d in directives:
        if isinstance(d, Emit) and d.event.type == "turn.state":
            assert d.event.previous == previous
            assert d.event.state in TRANSITIONS[previous] | {previous}, (previous, d.event.state)
            previous = d.event.state
    assert previous == after.status
    if before.terminal:
        assert directives == [] and after == before
    # a tool runs only on a policy "run" for its exact hash, or an approval bound to it
    for d in directives:
        if not isinstance(d, RunTool):
            continue
        call = after.call(d.tool_call_id)
        assert call is not None and call.status == "running" and call.run_id == d.run_id
        assert d.tool_call_id not in led.finished_calls
        if call.approved_by_operator:
            assert d.approved_shell
            assert (call.approval_id, d.call_hash) in led.approvals
        elif d.approved_shell:
            assert (d.tool_call_id, d.call_hash) in led.shell_rules
        else:
            assert (d.tool_call_id, d.call_hash) in led.policy_runs
            assert led.mode != "none"
            if led.mode == "read-only":
                assert led.risks[d.tool_call_id] == "read"
    assert sum(isinstance(d, RunTool) for d in directives) <= 1
    stops = [d for d in directives if isinstance(d, Stop)]
    if after.terminal and not before.terminal:
        assert len(stops) == 1 and stops[0].status == after.status
    else:
        assert not stops
    assert after.model_calls <= after.max_model_calls
    assert sum(1 for c in after.calls if c.status == "running") <= 1
    assert TurnState.from_snapshot(after.to_snapshot()) == after


def random_action(draw: Any, state: TurnState, led: Ledger, now: float) -> Any:
    choices = ["model", "classify", "decide", "tool", "noise"]
    kind = draw(st.sampled_from(choices))
    if kind == "model":
        call_id = state.pending_model_call or draw(st.sampled_from(["t1-m1", "bogus"]))
        sub = draw(st.integers(0, 9))
        if sub <= 6:
            n = draw(st.integers(0, 3))
            calls = tuple(
                ToolCall(
                    id=draw(st.sampled_from(["a", "b", "", f"x{i}"])),
                    name="run_command",
                    arguments={"command": draw(st.sampled_from(["df", "rm -rf /", "ls"]))},
                )
                for i in range(n)
            )
            return ModelFinished(
                call_id, now, text=draw(st.sampled_from(["", "ok"])), tool_calls=calls
            )
        if sub == 7:
            return ModelOutcomeUnknown(call_id, now)
        if sub == 8 and led.retry_call:
            return RetryDue(led.retry_call, now)
        error_kind = draw(st.sampled_from(ERROR_KINDS))
        return ModelFailed(
            call_id,
            ErrorInfo(
                kind=error_kind,
                message=error_kind,
                retryable=error_kind in ("server", "rate_limit", "timeout"),
            ),
            now,
        )
    if kind == "classify":
        verdicts = []
        for call in state.calls:
            if call.status != "proposed" or draw(st.integers(0, 9)) == 0:
                continue
            risk, decision = draw(st.sampled_from(RISKS)), draw(st.sampled_from(DECISIONS))
            verdicts.append(
                CallClassification(
                    call.id,
                    risk,
                    decision,
                    "because",
                    call_hash(call.name, call.arguments),
                    shell_by_rule=draw(st.booleans()),
                )
            )
        return ToolsClassified(tuple(verdicts), now)
    if kind == "decide":
        pending = [a for a in state.pending_approvals] or ["nope"]
        approval_id = draw(st.sampled_from(pending))
        request = led.requests.get(approval_id)
        right_hash = request.call_hash if request else "h"
        sub = draw(st.integers(0, 4))
        if sub == 0:
            return ApprovalExpired(approval_id, now, after_s=60)
        if sub == 1:
            return ApprovalDecided(approval_id, "denied", right_hash, now, reason="no")
        if sub == 2:
            edited = {"command": "ls -l"}
            return ApprovalDecided(
                approval_id, "approved", call_hash("run_command", edited), now, arguments=edited
            )
        if sub == 3:
            return ApprovalDecided(approval_id, "approved", "wrong-hash", now)
        return ApprovalDecided(approval_id, "approved", right_hash, now, operator="op")
    if kind == "tool":
        running = [c.run_id for c in state.calls if c.status == "running" and c.run_id]
        run_id = draw(st.sampled_from(running or ["r-none"]))
        if draw(st.integers(0, 4)) == 0:
            return ToolOutcomeUnknown(run_id, now)
        return ToolFinished(run_id, draw(st.sampled_from(["ok", "error", "timeout"])), "out", now)
    sub = draw(st.integers(0, 9))
    if sub == 0:
        return Cancel(now)
    if sub == 1:
        return BudgetHit(now, "cap", call_id=state.pending_model_call, partial_text="part")
    return Resumed(now)


def grant(action: Any, state: TurnState, led: Ledger) -> None:
    """Record the grounds an action gives for running a tool, before the core sees it."""
    if isinstance(action, ToolsClassified):
        for verdict in action.classifications:
            led.risks[verdict.tool_call_id] = verdict.risk
            if verdict.decision == "run":
                led.policy_runs.add((verdict.tool_call_id, verdict.call_hash))
                if verdict.shell_by_rule:
                    led.shell_rules.add((verdict.tool_call_id, verdict.call_hash))
    elif isinstance(action, ApprovalDecided) and action.decision == "approved":
        led.approvals.add((action.approval_id, action.call_hash))


def note_results(after: TurnState, led: Ledger) -> None:
    for call in after.all_calls:
        if call.status == "finished":
            led.finished_calls.add(call.id)


def run_sequence(draw: Any, mode: str, max_calls: int, steps: int) -> list[Any]:
    led = Ledger(mode)
    state, directives = cmd(
        TurnState(),
        TurnRequested(
            "t1",
            "s1",
            "help",
            "m:x",
            0.0,
            approve_mode=mode,
            max_model_calls=max_calls,
            model_retries=draw(st.integers(0, 2)),
        ),
    )
    led.observe(directives)
    actions: list[Any] = []
    for i in range(steps):
        action = random_action(draw, state, led, float(i + 1))
        grant(action, state, led)
        if isinstance(action, Resumed):
            state = TurnState.from_snapshot(state.to_snapshot())
        after, directives = cmd(state, action)
        check_invariants(state, after, directives, led, action)
        led.observe(directives)
        note_results(after, led)
        actions.append(action)
        state = after
    return actions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), mode=st.sampled_from(MODES), max_calls=st.integers(1, 5))
def test_random_actions_never_break_the_state_machine_or_run_an_unapproved_tool(
    data: st.DataObject, mode: str, max_calls: int
) -> None:
    run_sequence(data.draw, mode, max_calls, steps=data.draw(st.integers(1, 40)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), mode=st.sampled_from(MODES), max_calls=st.integers(1, 5))
def test_same_actions_give_same_states_and_directives(
    data: st.DataObject, mode: str, max_calls: int
) -> None:
    actions = run_sequence(data.draw, mode, max_calls, steps=data.draw(st.integers(1, 25)))
    start = TurnRequested(
        "t1", "s1", "help", "m:x", 0.0, approve_mode=mode, max_model_calls=max_calls
    )

    def replay() -> list[Any]:
        state, out = cmd(TurnState(), start)
        trace = [(state, out)]
        for action in actions:
            state, out = cmd(state, action)
            trace.append((state, out))
        return trace

    assert replay() == replay()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), mode=st.sampled_from(MODES), max_calls=st.integers(1, 6))
def test_a_cooperative_world_always_reaches_a_terminal_state_within_bounds(
    data: st.DataObject, mode: str, max_calls: int
) -> None:
    """Answer every directive (the model may keep asking for tools): the turn must end."""
    draw = data.draw
    state, directives = cmd(
        TurnState(),
        TurnRequested("t1", "s1", "help", "m:x", 0.0, approve_mode=mode, max_model_calls=max_calls),
    )
    bound = max_calls * 12 + 5
    for step in range(bound):
        if state.terminal:
            break
        now = float(step + 1)
        action: Any = None
        for d in directives:
            if isinstance(d, CallModel):
                n = draw(st.integers(0, 2))
                calls = tuple(
                    ToolCall(id=f"k{step}-{i}", name="run_command", arguments={"command": "df"})
                    for i in range(n)
                )
                action = ModelFinished(d.call_id, now, text="t", tool_calls=calls)
            elif isinstance(d, ClassifyTools):
                action = ToolsClassified(
                    tuple(
                        CallClassification(
                            c.id,
                            draw(st.sampled_from(RISKS)),
                            draw(st.sampled_from(DECISIONS)),
                            "r",
                            call_hash(c.name, c.arguments),
                        )
                        for c in d.calls
                    ),
                    now,
                )
            elif isinstance(d, RunTool):
                action = ToolFinished(d.run_id, "ok", "fine", now)
        if action is None:
            request = next(c for c in state.calls if c.status == "awaiting_approval")
            verdict = draw(st.sampled_from(["approved", "denied"]))
            action = ApprovalDecided(request.approval_id, verdict, request.run_hash, now)
        state, directives = cmd(state, action)
    assert state.status in TERMINAL_STATUSES
