"""What of the live event stream is written down, and how secrets are kept out of it.

The bus carries every delta as it arrives (the TUI needs each one at once). What goes to the
store and to recordings is the same stream with the streamed text joined into chunks that
end at whitespace, each chunk redacted whole. Redacting delta by delta would miss a key the
model happened to stream in two pieces (`sk-abc` + `def…`); a chunk never ends inside a
word, so it never ends inside a key. It is also cheaper: one redaction and one row per chunk
instead of per token.

The filter is a pure function of the event sequence, so the store and a live recording that
both see the same events write the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opscopilot import events as ev
from opscopilot.events import EVENT_ADAPTER, Event
from opscopilot.redact import redact_after, redact_value

CHUNK_CHARS = 256  # write a chunk once this much text waits (or a line ends)
FORCE_CHARS = 4096  # a run with no whitespace this long is written anyway
CONTEXT_CHARS = 64  # what a chunk is redacted together with: "Bearer " before its token

_Streamed = ev.ModelText | ev.ModelThinking

# Events that may overtake buffered text: figures, not part of the conversation's order.
_SIDE_CHANNEL = frozenset({"model.usage", "scheduler.metrics"})


@dataclass
class _Pending:
    last: _Streamed
    parts: list[str] = field(default_factory=list)
    size: int = 0
    context: str = ""  # the end of what this stream already wrote, unredacted


class PersistFilter:
    """Feed it the live events in order; it returns the events to write, in order."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._context: dict[tuple[str, str], str] = {}  # streams with nothing pending

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, ev.ModelText | ev.ModelThinking):
            return self._streamed(event)
        out: list[Event] = [] if event.type in _SIDE_CHANNEL else self.flush()
        out.append(redact_event(event))
        return out

    def flush(self) -> list[Event]:
        """Everything still buffered, as whole chunks (the stream ended or something else came)."""
        out: list[Event] = []
        for key in list(self._pending):
            pending = self._pending.pop(key)
            out.append(_chunk(pending.last, pending.context, "".join(pending.parts)))
        self._context.clear()
        return out

    def _streamed(self, event: _Streamed) -> list[Event]:
        key = (event.type, event.call_id)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(event, context=self._context.get(key, ""))
        pending.last = event
        pending.parts.append(event.text)
        pending.size += len(event.text)
        if pending.size < CHUNK_CHARS and "\n" not in event.text:
            return []
        text = "".join(pending.parts)
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
        if cut == 0 and len(text) < FORCE_CHARS:
            pending.parts = [text]
            return []
        if cut == 0:
            cut = len(text)
        head, rest = text[:cut], text[cut:]
        chunk = _chunk(event, pending.context, head)
        context = (pending.context + head)[-CONTEXT_CHARS:]
        if rest:
            pending.parts, pending.size, pending.context = [rest], len(rest), context
        else:
            del self._pending[key]
            self._context[key] = context
        return [chunk]


def _chunk(last: _Streamed, context: str, text: str) -> Event:
    return last.model_copy(update={"text": redact_after(context, text)})


def redact_event(event: Event) -> Event:
    """The event with every secret masked: every string in it (tool-call arguments, output,
    errors, reasons), redacted as a value so the JSON around it cannot break."""
    data = event.model_dump(mode="json")
    masked = redact_value(data)
    if masked == data:
        return event
    try:
        return EVENT_ADAPTER.validate_python(masked)
    except ValueError:
        return ev.Notice(
            ts=event.ts,
            session_id=event.session_id,
            turn_id=event.turn_id,
            level="warning",
            message=f"a {event.type} event held a secret and was not recorded",
        )
