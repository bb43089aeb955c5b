"""What the store hands back: pydantic records, because they cross into the CLI's JSON and the TUI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from opscopilot.events import Risk
from opscopilot.llm.types import LazyModel, Usage
from opscopilot.store.pidspace import host_name

# A turn in one of these states will not move again; anything else may be resumed.
FINISHED_TURN_STATES: frozenset[str] = frozenset(
    {"completed", "failed", "cut_off", "cancelled", "denied"}
)

ApprovalStatus = Literal["pending", "approved", "denied", "expired"]


class SessionRecord(LazyModel):
    id: str
    model: str
    title: str = ""
    created_at: float
    updated_at: float
    turn_count: int = 0
    cost_usd: float = 0.0  # what the priced turns cost
    unpriced_turns: int = 0  # turns whose model had no known price: their cost is unknown


class TurnRecord(LazyModel):
    id: str
    session_id: str
    prompt: str
    model: str
    status: str
    text: str = ""
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    error: dict[str, Any] | None = None  # ErrorInfo's fields (kind, message, retryable)
    created_at: float
    updated_at: float
    options: dict[str, Any] = Field(default_factory=dict)  # approve_mode, max_cost

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_TURN_STATES


class JournalEntry(LazyModel):
    effect_id: str
    turn_id: str
    kind: str
    payload: dict[str, Any] = Field(default_factory=dict)
    status: str = "intent"  # "intent" until a result is recorded: "ok", "error", …
    result: dict[str, Any] | None = None
    created_at: float
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status != "intent"


class ApprovalRecord(LazyModel):
    """One request to run a tool call, and the decision with who made it (the audit trail)."""

    id: str
    session_id: str
    turn_id: str
    tool_call_id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)  # as the model proposed them
    risk: Risk
    reason: str = ""
    call_hash: str  # of the call that may run: the edited arguments' hash once edited
    status: ApprovalStatus = "pending"
    requested_at: float
    expires_at: float | None = None
    decided_at: float | None = None
    operator: str | None = None
    host: str | None = None
    channel: str | None = None  # where it was decided: tui, cli, web, runtime (expiry)
    decision_reason: str = ""
    edited_arguments: dict[str, Any] | None = None
    original_call_hash: str | None = None  # the hash as proposed, kept when arguments are edited

    @property
    def effective_arguments(self) -> dict[str, Any]:
        """The arguments the approved call runs with: the operator's edit when there is one."""
        return self.arguments if self.edited_arguments is None else self.edited_arguments

    def expired_at(self, now: float) -> bool:
        """True when still pending but past its deadline (it can no longer be approved)."""
        return self.status == "pending" and self.expires_at is not None and now >= self.expires_at

    def as_of(self, now: float) -> ApprovalRecord:
        """This record as an operator should see it at `now`: a lapsed pending one reads expired."""
        if self.expired_at(now):
            return self.model_copy(update={"status": "expired"})
        return self


class AllowRule(LazyModel):
    """An operator's "always allow" for a session: a tool, optionally one exact command."""

    id: int
    session_id: str
    tool: str
    command: str | None = None
    created_at: float
    revoked_at: float | None = None


ChangeKind = Literal[
    "approval.requested", "approval.decided", "turn.updated", "owner.claimed", "owner.released"
]


class Change(LazyModel):
    """One row of the store's change feed: what moved (a decision, a turn, an owner), in order."""

    seq: int
    kind: ChangeKind
    key: str  # the approval id, or the turn id
    session_id: str | None = None
    turn_id: str | None = None
    at: float


OwnerKind = Literal["tui", "batch", "resume", "run", "web"]


class TurnOwner(LazyModel):
    """The process driving a turn: who, where, and when it last said it is alive."""

    turn_id: str
    owner_id: str
    kind: str
    pid: int
    host: str
    operator: str = ""
    claimed_at: float
    heartbeat_at: float

    def describe(self, now: float) -> str:
        """`tui (pid 123 on host h, alive 0.4 s ago)`: what an operator is told."""
        ago = max(now - self.heartbeat_at, 0.0)
        who = f" by {self.operator}" if self.operator else ""
        return f"{self.kind}{who} (pid {self.pid} on {self.hostname}, heartbeat {ago:.1f} s ago)"

    @property
    def hostname(self) -> str:
        """The host it runs on (`host` holds its whole pid space: store/pidspace.py)."""
        return host_name(self.host)
