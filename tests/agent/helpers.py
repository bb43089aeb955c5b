"""Small builders shared by the agent core's tests."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from opscopilot.agent import (
    CallClassification,
    Directive,
    ToolsClassified,
    TurnRequested,
    TurnState,
    cmd,
)
from opscopilot.llm.types import ToolCall


def call_hash(name: str, arguments: dict[str, Any]) -> str:
    canonical = json.dumps({"name": name, "arguments": arguments}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def start(mode: str = "ask", max_model_calls: int = 8, retries: int = 0):
    return cmd(
        TurnState(),
        TurnRequested(
            turn_id="t1",
            session_id="s1",
            prompt="why is the disk full?",
            model="test:m",
            now=1.0,
            approve_mode=mode,
            max_model_calls=max_model_calls,
            model_retries=retries,
        ),
    )


def tool_call(call_id: str, name: str = "run_command", **arguments: Any) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)


def classify(state: TurnState, verdicts: dict[str, tuple[str, str]], now: float = 3.0):
    """verdicts: tool_call_id -> (risk, decision)."""
    return cmd(
        state,
        ToolsClassified(
            classifications=tuple(
                CallClassification(
                    tool_call_id=c.id,
                    risk=verdicts[c.id][0],
                    decision=verdicts[c.id][1],
                    reason=f"{verdicts[c.id][0]} call",
                    call_hash=call_hash(c.name, c.arguments),
                )
                for c in state.calls
                if c.id in verdicts
            ),
            now=now,
        ),
    )


def of_type(directives: list[Directive], kind: type) -> list[Any]:
    return [d for d in directives if isinstance(d, kind)]
