"""`replay:PATH` — a provider that answers from a recording's model responses.

Re-running the current agent against a past session needs the model to say exactly what
it said then. The n-th model call of a conversation is answered with the n-th recorded
call, where n is the number of assistant messages already in the request (so the same
history always gets the same answer, whichever process asks). A recorded call that ended
in a provider error is answered with the same error first, then with the call recorded
after it at the same position. Asking past the end is an `invalid_response` error.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from opscopilot import events as ev
from opscopilot.llm.providers.base import ProviderSettings
from opscopilot.llm.types import (
    Finish,
    LLMError,
    Request,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
)
from opscopilot.replay.recording import Recording, RecordingError, read_recording


@dataclass
class RecordedCall:
    """One model call as it reached the operator: its final attempt's output and outcome."""

    call_id: str
    events: list[ev.Event] = field(default_factory=list)
    finished: ev.ModelFinished | None = None

    def stream(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        index = 0
        for event in self.events:
            if isinstance(event, ev.ModelText):
                out.append(TextDelta(event.text))
            elif isinstance(event, ev.ModelThinking):
                out.append(ThinkingDelta(event.text))
            elif isinstance(event, ev.ModelToolCall):
                arguments = json.dumps(event.arguments)
                out += [
                    ToolCallStart(index, event.tool_call_id, event.name),
                    ToolCallDelta(index, arguments),
                    ToolCallEnd(index, event.tool_call_id, event.name, event.arguments),
                ]
                index += 1
        if self.finished is not None:
            out.append(UsageUpdate(self.finished.usage))
            if self.finished.error is None:
                out.append(Finish(self.finished.finish_reason))
        return out


def recorded_calls(recording: Recording) -> list[list[RecordedCall]]:
    """Model calls grouped by position: each position holds failed calls, then the one that answered."""
    calls: dict[str, RecordedCall] = {}
    order: list[str] = []
    for timed in recording.events:
        event = timed.event
        if isinstance(event, ev.ModelCallStarted):
            if event.call_id not in calls:
                order.append(event.call_id)
            calls[event.call_id] = RecordedCall(event.call_id)  # a retry starts the call afresh
        elif isinstance(event, ev.ModelText | ev.ModelThinking | ev.ModelToolCall):
            if event.call_id in calls:
                calls[event.call_id].events.append(event)
        elif isinstance(event, ev.ModelFinished) and event.call_id in calls:
            calls[event.call_id].finished = event
    positions: list[list[RecordedCall]] = [[]]
    for call_id in order:
        call = calls[call_id]
        positions[-1].append(call)
        if call.finished is None or call.finished.error is None:
            positions.append([])
    return [p for p in positions if p]


_recordings: dict[Path, list[list[RecordedCall]]] = {}
_asked: dict[tuple[Path, int], int] = defaultdict(int)


def reset() -> None:
    """Forget loaded recordings and answer counts (tests, or a fresh re-run in one process)."""
    _recordings.clear()
    _asked.clear()


class RecordedProvider:
    name = "replay"

    def __init__(self, settings: ProviderSettings, http: object | None = None) -> None:
        self.settings = settings

    def _positions(self, path: Path) -> list[list[RecordedCall]]:
        if path not in _recordings:
            try:
                _recordings[path] = recorded_calls(read_recording(path))
            except RecordingError as exc:
                raise LLMError("not_found", str(exc), provider=self.name) from None
        return _recordings[path]

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        path = Path(request.model).expanduser().resolve()
        positions = self._positions(path)
        position = sum(1 for m in request.messages if m.role == "assistant")
        if position >= len(positions):
            raise LLMError(
                "invalid_response",
                f"the recording has {len(positions)} model responses; call {position + 1} asked "
                "for one more (the agent now behaves differently from the recorded session)",
                provider=self.name,
            )
        attempts = positions[position]
        asked = _asked[(path, position)]
        _asked[(path, position)] += 1
        call = attempts[min(asked, len(attempts) - 1)]
        for event in call.stream():
            yield event
        if call.finished is not None and call.finished.error is not None:
            error = call.finished.error
            raise LLMError(error.kind, error.message, retryable=error.retryable, provider=self.name)
