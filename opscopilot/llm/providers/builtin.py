"""`builtin:ops`: the offline, deterministic model, speaking the same contract as the others.

When the last message is the operator's, it plans read-only diagnostics (or proposes the
mutating command asked for, which the approval policy holds for the operator) and asks for
them as parallel tool calls after a short explanation. When the last messages are tool
results, it streams a summary computed from their real output and stops. Same messages in,
same bytes out: no clock, no randomness. Token counts come from a fixed ~4 characters per
token rule, so budgets and meters behave as they would with a cloud model.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from opscopilot.llm.providers.builtin_planner import PlannedCall, plan
from opscopilot.llm.providers.builtin_summary import ToolOutcome, summarise
from opscopilot.llm.types import (
    Finish,
    LLMError,
    Message,
    Request,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
    UsageUpdate,
)

if TYPE_CHECKING:
    import httpx

    from opscopilot.llm.providers.base import ProviderSettings

MODEL_ID = "ops"
CHARS_PER_TOKEN = 4
_PIECE = re.compile(r"\S+\s*|\s+")

HELP_TEXT = (
    "Hi — I'm `builtin:ops`, the offline model. I turn a question about this machine into "
    "read-only checks and summarise what they find. Ask me about:\n\n"
    '- **disk** — "how full are the disks?" (`df -h`)\n'
    '- **memory** — "are we out of memory?" (`free -m`)\n'
    '- **load** — "why is the box slow?" (`uptime`, `system_info`)\n'
    '- **processes** — "what\'s running?" (`ps`)\n'
    '- **ports** — "what is listening?" (`ss -ltn`)\n'
    '- **logs** — "errors in the nginx logs" (`tail_log`)\n'
    '- **URLs** — "is https://example.com/health up?" (`http_check`)\n\n'
    "I can also propose changes such as `systemctl restart nginx`; those wait for your "
    "approval.\n"
)


def count_tokens(text: str) -> int:
    """The builtin tokenizer: about four characters per token, at least one for any text."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(slots=True)
class BuiltinReply:
    """What the model will say: optional thinking, text, then tool calls."""

    text: str
    thinking: str = ""
    calls: list[PlannedCall] = field(default_factory=list)


class BuiltinProvider:
    """The `builtin` provider; `settings.extra["delay_ms"]` paces the pieces for a human."""

    def __init__(
        self, settings: ProviderSettings | None = None, http: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.name = settings.name if settings else "builtin"
        extra = settings.extra if settings else {}
        try:
            self.delay_s = max(float(extra.get("delay_ms", 0)), 0.0) / 1000.0
        except (TypeError, ValueError):
            raise LLMError(
                "bad_request",
                "config.toml: [providers.builtin] delay_ms must be a number",
                provider=self.name,
            ) from None

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        if request.model != MODEL_ID:
            raise LLMError(
                "not_found",
                f"the builtin provider has one model, builtin:{MODEL_ID}"
                f" (not builtin:{request.model})",
                provider=self.name,
            )
        reply = compose_reply(request)
        input_tokens = count_tokens(prompt_text(request))
        limit = request.max_tokens * CHARS_PER_TOKEN if request.max_tokens else None
        produced = 0
        yield UsageUpdate(Usage(input_tokens=input_tokens))

        def usage() -> UsageUpdate:
            thinking = min(len(reply.thinking), produced)
            return UsageUpdate(
                Usage(
                    input_tokens=input_tokens,
                    output_tokens=math.ceil(produced / CHARS_PER_TOKEN),
                    reasoning_tokens=math.ceil(thinking / CHARS_PER_TOKEN),
                )
            )

        for kind, text in [("thinking", reply.thinking), ("text", reply.text)]:
            for piece in _PIECE.findall(text):
                if limit is not None and produced + len(piece) > limit:
                    yield usage()
                    yield Finish("length", "max_tokens")
                    return
                produced += len(piece)
                yield ThinkingDelta(piece) if kind == "thinking" else TextDelta(piece)
                await self._pause()
        first_number = sum(len(m.tool_calls) for m in request.messages)
        for index, call in enumerate(reply.calls):
            call_id = f"call_{first_number + index}"
            arguments = json.dumps(call.arguments, ensure_ascii=False, sort_keys=True)
            yield ToolCallStart(index, call_id, call.tool)
            for start in range(0, len(arguments), 16):
                yield ToolCallDelta(index, arguments[start : start + 16])
            yield ToolCallEnd(index, call_id, call.tool, dict(call.arguments))
            produced += len(call.tool) + len(arguments)
            await self._pause()
        yield usage()
        yield Finish(
            "tool_calls" if reply.calls else "stop", "tool_calls" if reply.calls else "stop"
        )

    async def _pause(self) -> None:
        if self.delay_s:
            await anyio.sleep(self.delay_s)


def compose_reply(request: Request) -> BuiltinReply:
    """Decide the whole reply from the messages alone (a pure function)."""
    outcomes = trailing_tool_outcomes(request.messages)
    if outcomes:
        labels = ", ".join(o.label for o in outcomes)
        thinking = f"Reading {len(outcomes)} tool results ({labels}) and summarising them."
        return BuiltinReply(summarise(outcomes), _if_thinking(request, thinking))
    users = [m.text for m in request.messages if m.role == "user" and m.text.strip()]
    if not users:
        return BuiltinReply(HELP_TEXT)
    offered = {tool.name for tool in request.tools}
    metrics = "query_metrics" in offered
    calls = plan(users[-1], context=" ".join(users[:-1]), metrics=metrics)
    asked = " ".join(users[-1].split())[:80]
    if not calls:
        thinking = f"The operator wrote \u201c{asked}\u201d; no check matches, so I list mine."
        return BuiltinReply(HELP_TEXT, _if_thinking(request, thinking))
    runnable = [c for c in calls if c.tool in offered]
    skipped = [c for c in calls if c.tool not in offered]
    thinking = (
        f"The operator asks \u201c{asked}\u201d. Matching checks: "
        + ", ".join(c.display for c in calls)
        + "."
    )
    return BuiltinReply(_intro(runnable, skipped), _if_thinking(request, thinking), runnable)


def _if_thinking(request: Request, thinking: str) -> str:
    return thinking + "\n" if request.thinking_budget else ""


def _intro(runnable: list[PlannedCall], skipped: list[PlannedCall]) -> str:
    checks = [c for c in runnable if not c.mutating]
    changes = [c for c in runnable if c.mutating]
    sentences: list[str] = []
    if checks:
        listed = ", ".join(f"{c.purpose} (`{c.display}`)" for c in checks)
        plural = "checks" if len(checks) > 1 else "check"
        sentences.append(f"I'll run {len(checks)} read-only {plural}: {listed}.")
    for change in changes:
        sentences.append(
            f"To {change.purpose} I'll run `{change.display}`; it changes the "
            "system, so it waits for your approval."
        )
    if skipped:
        listed = ", ".join(f"`{c.display}`" for c in skipped)
        if runnable:
            sentences.append(f"These tools aren't available in this call, so I skipped: {listed}.")
        else:
            sentences.append(
                f"Tools aren't enabled for this call, so I can't run anything. I "
                f"would check {listed}; ask through `opscopilot run` to let me."
            )
    return " ".join(sentences) + "\n"


def trailing_tool_outcomes(messages: list[Message]) -> list[ToolOutcome]:
    """The tool results after the last assistant turn, each paired with the call it answers."""
    calls: dict[str, ToolCallPart] = {}
    for message in messages:
        for call in message.tool_calls:
            calls[call.id] = call
    results: list[ToolResultPart] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        results[:0] = [p for p in message.parts if isinstance(p, ToolResultPart)]
    outcomes = []
    for result in results:
        call = calls.get(result.id)
        name = (call.name if call else None) or result.name or "tool"
        arguments = call.arguments if call else {}
        content = result.content
        edit = _EDITED.match(content)
        if edit:  # the operator changed the call before approving it: report what really ran
            try:
                arguments = json.loads(edit.group(1))
                content = content[edit.end() :]
            except ValueError:
                pass
        outcomes.append(ToolOutcome(name, arguments, content, result.is_error))
    return outcomes


# How the agent core tells a model that the operator edited a call (agent/core.py).
_EDITED = re.compile(
    r"The operator edited the arguments before approving; it ran with (\{.*?\})\.\n"
)


def prompt_text(request: Request) -> str:
    """Everything the model was given, as text, for the token count of its input."""
    pieces: list[str] = [request.system or ""]
    for tool in request.tools:
        pieces += [tool.name, tool.description, json.dumps(tool.parameters, sort_keys=True)]
    for message in request.messages:
        pieces.append(message.role)
        for part in message.parts:
            pieces.append(_part_text(part))
    return "\n".join(pieces)


def _part_text(part: Any) -> str:
    if isinstance(part, ToolCallPart):
        return part.name + json.dumps(part.arguments, sort_keys=True, ensure_ascii=False)
    if isinstance(part, ToolResultPart):
        return part.content
    if isinstance(part, ThinkingPart):
        return part.text
    return getattr(part, "text", "") or ""
