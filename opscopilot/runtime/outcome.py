"""What `start_turn` and `resume` hand back, and what `run --json` prints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from opscopilot.agent import TurnState
from opscopilot.llm.types import ErrorInfo, Usage

# `run`/`resume` exit codes (DESIGN.md): 0 done, 1 failed, 2 usage, 3 paused, 4 budget.
EXIT_CODES: dict[str, int] = {
    "completed": 0,
    "denied": 0,
    "failed": 1,
    "cancelled": 1,
    "awaiting_approval": 3,
    "cut_off": 4,
}


class ToolCallOutcome(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: str  # ok | error | timeout | denied | awaiting_approval | running | not_run


class TurnOutcome(BaseModel):
    session_id: str
    turn_id: str
    status: str
    text: str = ""
    tool_calls: list[ToolCallOutcome] = Field(default_factory=list)
    pending_approvals: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    error: ErrorInfo | None = None
    reason: str = ""

    @property
    def exit_code(self) -> int:
        if self.status == "denied" and not self.text.strip():
            return 1  # ended without an answer: that is not done
        return EXIT_CODES.get(self.status, 1)

    def to_json(self) -> dict[str, Any]:
        """The stable `run --json` / `resume --json` object (DESIGN.md), plus error and reason."""
        return {
            "session_id": self.session_id,
            "turn_id": self.turn_id,
            "status": self.status,
            "text": self.text,
            "tool_calls": [c.model_dump(mode="json") for c in self.tool_calls],
            "pending_approvals": list(self.pending_approvals),
            "usage": self.usage.model_dump(),
            "cost_usd": self.cost_usd,
            "error": None if self.error is None else self.error.model_dump(),
            "reason": self.reason,
        }

    @classmethod
    def from_state(cls, state: TurnState) -> TurnOutcome:
        calls = []
        for call in state.all_calls:
            if call.status in ("finished", "denied"):
                status = call.result_status or call.status
            elif state.terminal:
                status = "not_run"
            else:
                status = call.status
            arguments = call.run_arguments if call.run_arguments is not None else call.arguments
            calls.append(
                ToolCallOutcome(id=call.id, name=call.name, arguments=arguments, status=status)
            )
        return cls(
            session_id=state.session_id,
            turn_id=state.turn_id,
            status=state.status,
            text=state.text,
            tool_calls=calls,
            pending_approvals=state.pending_approvals,
            usage=state.usage,
            cost_usd=state.cost_usd,
            error=state.error,
            reason=state.stop_reason,
        )
