"""The one event vocabulary: what the runtime publishes, the store appends, the TUI renders,
a recording holds and replay feeds back. Add a new kind here; never define a twin elsewhere.

Every event carries `ts` (seconds since the epoch, from the runtime's clock, never read
inside the pure core) and the session and turn it belongs to, when it belongs to one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from opscopilot.llm.types import ErrorInfo, FinishReason, Usage

Risk = Literal["read", "write", "destructive"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    ts: float
    session_id: str | None = None
    turn_id: str | None = None


# --- sessions and turns ------------------------------------------------------------------


class SessionStarted(_Event):
    type: Literal["session.started"] = "session.started"
    model: str
    title: str = ""


class TurnStarted(_Event):
    type: Literal["turn.started"] = "turn.started"
    prompt: str
    model: str


class TurnStateChanged(_Event):
    type: Literal["turn.state"] = "turn.state"
    previous: str
    state: str


class TurnFinished(_Event):
    type: Literal["turn.finished"] = "turn.finished"
    status: str  # completed | failed | cut_off | cancelled | denied
    text: str = ""
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    error: ErrorInfo | None = None
    reason: str = ""  # why the turn ended, one line (e.g. "stopped after 8 model calls")


# --- model calls -------------------------------------------------------------------------


class ModelCallStarted(_Event):
    type: Literal["model.started"] = "model.started"
    call_id: str
    provider: str
    model: str
    attempt: int = 1


class ModelText(_Event):
    type: Literal["model.text"] = "model.text"
    call_id: str
    text: str


class ModelThinking(_Event):
    type: Literal["model.thinking"] = "model.thinking"
    call_id: str
    text: str


class ModelToolCall(_Event):
    type: Literal["model.tool_call"] = "model.tool_call"
    call_id: str
    tool_call_id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ModelUsage(_Event):
    """Running usage of a call: estimated while it streams, the provider's figure when it comes."""

    type: Literal["model.usage"] = "model.usage"
    call_id: str
    usage: Usage
    cost_usd: float | None = None
    estimated: bool = False


class ModelRetry(_Event):
    type: Literal["model.retry"] = "model.retry"
    call_id: str
    attempt: int
    delay_s: float
    reason: str
    discarded_output: bool = False  # partial output shown so far is void


class ModelFinished(_Event):
    type: Literal["model.finished"] = "model.finished"
    call_id: str
    provider: str
    model: str
    finish_reason: FinishReason
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    cost_simulated: bool = False
    error: ErrorInfo | None = None


# --- tools and approvals -----------------------------------------------------------------


class ToolProposed(_Event):
    type: Literal["tool.proposed"] = "tool.proposed"
    tool_call_id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    risk: Risk
    reason: str = ""  # why the policy classified it so


class ApprovalRequested(_Event):
    type: Literal["approval.requested"] = "approval.requested"
    approval_id: str
    tool_call_id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    risk: Risk
    reason: str = ""


class ApprovalDecided(_Event):
    type: Literal["approval.decided"] = "approval.decided"
    approval_id: str
    decision: Literal["approved", "denied", "expired"]
    operator: str = ""
    host: str = ""  # where it was decided: the host, and the channel (tui, cli, web)
    channel: str = ""
    reason: str = ""
    arguments: dict[str, Any] | None = None  # edited arguments, when they were edited


class ToolStarted(_Event):
    type: Literal["tool.started"] = "tool.started"
    tool_call_id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolOutput(_Event):
    type: Literal["tool.output"] = "tool.output"
    tool_call_id: str
    stream: Literal["stdout", "stderr"] = "stdout"
    text: str


class ToolFinished(_Event):
    type: Literal["tool.finished"] = "tool.finished"
    tool_call_id: str
    name: str
    status: Literal["ok", "error", "denied", "timeout", "unknown"]
    content: str = ""
    duration_s: float = 0.0


# --- governance --------------------------------------------------------------------------


class BudgetWarning(_Event):
    type: Literal["budget.warning"] = "budget.warning"
    scope: Literal["call", "turn", "session", "day"]
    spent_usd: float
    cap_usd: float


class BudgetCutoff(_Event):
    type: Literal["budget.cutoff"] = "budget.cutoff"
    scope: Literal["call", "turn", "session", "day"]
    spent_usd: float
    cap_usd: float
    call_id: str | None = None


class SchedulerMetrics(_Event):
    type: Literal["scheduler.metrics"] = "scheduler.metrics"
    in_flight: int
    queued: int
    capacity: int
    tokens_per_s: float = 0.0
    usd_per_min: float = 0.0
    cooldowns: dict[str, float] = Field(default_factory=dict)  # provider -> seconds left
    spend: dict[str, tuple[float, float | None]] = Field(
        default_factory=dict
    )  # scope -> (spent, cap)


class Notice(_Event):
    type: Literal["notice"] = "notice"
    level: Literal["info", "warning", "error"] = "info"
    message: str


Event = Annotated[
    SessionStarted
    | TurnStarted
    | TurnStateChanged
    | TurnFinished
    | ModelCallStarted
    | ModelText
    | ModelThinking
    | ModelToolCall
    | ModelUsage
    | ModelRetry
    | ModelFinished
    | ToolProposed
    | ApprovalRequested
    | ApprovalDecided
    | ToolStarted
    | ToolOutput
    | ToolFinished
    | BudgetWarning
    | BudgetCutoff
    | SchedulerMetrics
    | Notice,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event, config=ConfigDict(defer_build=True))


def parse_event(data: str | bytes | dict[str, Any]) -> Event:
    """Parse one event from JSON text or a dict (a stored row, a recording line)."""
    if isinstance(data, dict):
        return EVENT_ADAPTER.validate_python(data)
    return EVENT_ADAPTER.validate_json(data)
