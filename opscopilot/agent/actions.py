"""What happens to a turn (actions in) and what the turn wants done (directives out).

Both are plain frozen dataclasses: they live inside the agent/runtime pair and never cross
a disk or wire boundary (the state does; see state.py). Every action carries `now` because
the core never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from opscopilot.events import Event, Risk
from opscopilot.llm.types import ErrorInfo, Message, ToolCall, Usage

from .state import ApproveMode, PolicyDecision

# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class TurnRequested:
    turn_id: str
    session_id: str
    prompt: str
    model: str
    now: float
    approve_mode: ApproveMode = "ask"
    max_model_calls: int = 8
    model_retries: int = 0
    max_cost: float | None = None


@dataclass(frozen=True)
class ModelFinished:
    """A model call ended normally (stop, length, tool_calls, content_filter)."""

    call_id: str
    now: float
    text: str = ""
    thinking: str = ""
    thinking_signature: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class ModelFailed:
    """A model call failed after the client's own retries (kind budget means a cap cut it)."""

    call_id: str
    error: ErrorInfo
    now: float
    retry_after: float | None = None
    partial_text: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None


@dataclass(frozen=True)
class ModelOutcomeUnknown:
    """Found on resume: a model call has an intent in the journal but no result."""

    call_id: str
    now: float


@dataclass(frozen=True)
class RetryDue:
    """The delay a ScheduleRetry asked for has passed."""

    call_id: str
    now: float


@dataclass(frozen=True)
class CallClassification:
    """The runtime's verdict on one proposed call, computed through opscopilot.tools."""

    tool_call_id: str
    risk: Risk
    decision: PolicyDecision
    reason: str
    call_hash: str
    shell_by_rule: bool = False  # mode `all` or an exact allow rule already approves a shell
    # Set when the call cannot be judged at all (unknown tool, arguments that do not fit its
    # schema): the model is told what is wrong; it is not a policy denial.
    unusable: str = ""
    standing_rule: bool = False  # mode `all` or an exact allow rule approves this very call


@dataclass(frozen=True)
class ToolsClassified:
    classifications: tuple[CallClassification, ...]
    now: float


@dataclass(frozen=True)
class ApprovalDecided:
    """An operator decided; `arguments`/`call_hash` are set when the arguments were edited."""

    approval_id: str
    decision: Literal["approved", "denied"]
    call_hash: str  # the hash the decision is bound to
    now: float
    arguments: dict[str, Any] | None = None
    reason: str = ""
    operator: str = ""
    host: str = ""
    channel: str = ""  # where it was decided: tui, cli, web


@dataclass(frozen=True)
class ApprovalExpired:
    approval_id: str
    now: float
    after_s: float = 0.0


@dataclass(frozen=True)
class ToolFinished:
    run_id: str
    status: Literal["ok", "error", "timeout"]
    content: str
    now: float
    duration_s: float = 0.0


@dataclass(frozen=True)
class ToolOutcomeUnknown:
    """Found on resume: a tool run has an intent in the journal but no result."""

    run_id: str
    now: float


@dataclass(frozen=True)
class Resumed:
    """The runtime picked a snapshot back up: re-issue whatever the state is waiting on."""

    now: float


@dataclass(frozen=True)
class Cancel:
    now: float
    reason: str = "cancelled by the operator"


@dataclass(frozen=True)
class BudgetHit:
    """A cap refused a call before it started, or cut it off mid-stream."""

    now: float
    reason: str
    call_id: str | None = None
    partial_text: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None


Action = (
    TurnRequested
    | ModelFinished
    | ModelFailed
    | ModelOutcomeUnknown
    | RetryDue
    | ToolsClassified
    | ApprovalDecided
    | ApprovalExpired
    | ToolFinished
    | ToolOutcomeUnknown
    | Resumed
    | Cancel
    | BudgetHit
)

# --------------------------------------------------------------------------- directives


@dataclass(frozen=True)
class CallModel:
    """Call the turn's model with the session history followed by `messages`."""

    call_id: str
    messages: tuple[Message, ...]
    attempt: int = 1


@dataclass(frozen=True)
class ClassifyTools:
    """Classify these proposed calls and answer with ToolsClassified."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class RequestApproval:
    approval_id: str
    tool_call_id: str
    name: str
    arguments: dict[str, Any]
    risk: Risk
    reason: str
    call_hash: str


@dataclass(frozen=True)
class WaitForApproval:
    """Nothing can run until an operator decides one of these approvals."""

    approval_ids: tuple[str, ...]


@dataclass(frozen=True)
class RunTool:
    """Run one tool call. `approved_shell` is True only when an operator approved this hash."""

    run_id: str
    tool_call_id: str
    name: str
    arguments: dict[str, Any]
    call_hash: str
    risk: Risk
    approved_shell: bool
    confined: bool = True  # no person approved this call: it runs in the OS sandbox


@dataclass(frozen=True)
class RecordMessage:
    """Append a message to the session's conversation in the store."""

    message: Message


@dataclass(frozen=True)
class Emit:
    event: Event


@dataclass(frozen=True)
class ScheduleRetry:
    call_id: str
    delay_s: float


@dataclass(frozen=True)
class Stop:
    status: str
    reason: str = ""


Directive = (
    CallModel
    | ClassifyTools
    | RequestApproval
    | WaitForApproval
    | RunTool
    | RecordMessage
    | Emit
    | ScheduleRetry
    | Stop
)
