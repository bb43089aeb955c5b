"""What a turn is at one moment: the snapshot the runtime saves after every transition.

Pydantic (not dataclasses) because a turn's state crosses a boundary: it is written to
SQLite as a snapshot and read back on resume, in another process, maybe days later.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opscopilot.events import Risk
from opscopilot.llm.types import ErrorInfo, Message, Usage

TurnStatus = Literal[
    "ready",
    "calling_model",
    "tools_proposed",
    "awaiting_approval",
    "running_tools",
    "completed",
    "failed",
    "cut_off",
    "cancelled",
    "denied",
]

TERMINAL_STATUSES: frozenset[str] = frozenset(
    {"completed", "failed", "cut_off", "cancelled", "denied"}
)

# Which status may follow which: the state machine of DESIGN.md, checked by the property tests.
TRANSITIONS: dict[str, frozenset[str]] = {
    "ready": frozenset({"calling_model", "failed", "cancelled", "cut_off"}),
    "calling_model": frozenset(
        {"calling_model", "tools_proposed", "completed", "failed", "cut_off", "cancelled"}
    ),
    "tools_proposed": frozenset(
        {"awaiting_approval", "running_tools", "calling_model", "failed", "cancelled", "denied"}
    ),
    "awaiting_approval": frozenset(
        {"awaiting_approval", "running_tools", "calling_model", "failed", "cancelled", "denied"}
    ),
    "running_tools": frozenset(
        {"running_tools", "awaiting_approval", "calling_model", "failed", "cancelled", "denied"}
    ),
    **{status: frozenset() for status in TERMINAL_STATUSES},
}

ApproveMode = Literal["ask", "read-only", "all", "none"]
PolicyDecision = Literal["run", "ask", "deny"]

# Life of one proposed tool call inside a turn.
CallStatus = Literal[
    "proposed",  # the model asked for it; not classified yet
    "awaiting_approval",  # an operator must decide (approval_id says which record)
    "approved",  # may run: the policy said run, or an approval bound to run_hash said yes
    "running",  # a RunTool directive went out under run_id
    "finished",  # a result came back (ok, error or timeout)
    "denied",  # policy, operator or expiry said no; the reason goes back to the model
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ToolCallState(_Frozen):
    """One tool call the model proposed, from proposal to result."""

    id: str  # the model's tool_call id
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: CallStatus = "proposed"
    risk: Risk | None = None
    decision: PolicyDecision | None = None
    reason: str = ""
    call_hash: str = ""  # hash of `arguments` as the model proposed them
    run_arguments: dict[str, Any] | None = None  # what runs (edited by the operator, or the same)
    run_hash: str = ""  # the hash an approval is bound to, and what runs
    approval_id: str | None = None
    approved_by_operator: bool = False
    shell_by_rule: bool = False  # the operator's standing choice (mode all, exact allow rule)
    standing_rule: bool = False  # that standing choice approves this call: it runs unconfined
    run_id: str | None = None  # the journal effect id of the run
    result_status: Literal["ok", "error", "timeout", "denied"] | None = None
    content: str = ""  # what goes back to the model as the tool result
    unusable: bool = False  # the model got the call wrong (not JSON, unknown tool, bad schema)

    @property
    def settled(self) -> bool:
        return self.status in ("finished", "denied")


class TurnState(_Frozen):
    """A whole turn: conversation of this turn, the batch of tool calls, counters and totals."""

    turn_id: str = ""
    session_id: str = ""
    prompt: str = ""
    model: str = ""
    approve_mode: ApproveMode = "ask"
    max_cost: float | None = None  # the --max-cost of the turn, kept so resume honours it
    status: TurnStatus = "ready"
    messages: list[Message] = Field(default_factory=list)  # this turn's, after the history
    calls: list[ToolCallState] = Field(default_factory=list)  # the batch being worked on
    finished_calls: list[ToolCallState] = Field(default_factory=list)  # earlier batches
    model_calls: int = 0
    max_model_calls: int = 8
    retries_left: int = 0
    pending_model_call: str | None = None
    id_seq: int = 0  # for ids derived from turn_id (pure: no uuid inside the core)
    denied_batches: int = 0  # consecutive batches where every call was denied
    unusable_batches: int = 0  # consecutive batches where every call was one the model got wrong
    texts: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    error: ErrorInfo | None = None
    stop_reason: str = ""
    started_at: float = 0.0
    updated_at: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def text(self) -> str:
        return "\n\n".join(t for t in self.texts if t)

    @property
    def pending_approvals(self) -> list[str]:
        return [
            c.approval_id
            for c in self.calls
            if c.status == "awaiting_approval" and c.approval_id is not None
        ]

    @property
    def all_calls(self) -> list[ToolCallState]:
        return [*self.finished_calls, *self.calls]

    def call(self, tool_call_id: str) -> ToolCallState | None:
        return next((c for c in self.calls if c.id == tool_call_id), None)

    def to_snapshot(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> TurnState:
        return cls.model_validate(data)
