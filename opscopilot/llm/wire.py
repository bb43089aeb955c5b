"""Incremental decoders for the two streaming wire formats: Server-Sent Events and NDJSON.

Both take raw bytes exactly as the network delivers them (any chunk boundary, a UTF-8
character split in two, CRLF or CR line ends) and return whole events. Lines are split as
bytes before decoding, which is safe because a newline byte never occurs inside a UTF-8
multi-byte sequence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opscopilot.llm.types import LLMError


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None


class SSEDecoder:
    """The WHATWG event-stream parser, fed bytes; `feed` returns the events each chunk completes."""

    __slots__ = ("_at_start", "_buffer", "_data", "_event", "_id", "_last_was_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._last_was_cr = False
        self._at_start = True

    @property
    def pending(self) -> bool:
        """True when the stream stopped in the middle of an event."""
        return bool(self._buffer.strip() or self._data)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        if self._last_was_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]  # the second half of a CRLF split across two chunks
        self._last_was_cr = chunk[-1:] == b"\r"
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer + chunk if self._buffer else chunk
        if self._at_start:
            if len(buffer) < 3 and b"\xef\xbb\xbf".startswith(buffer):
                self._buffer = buffer
                return []
            if buffer.startswith(b"\xef\xbb\xbf"):
                buffer = buffer[3:]
            self._at_start = False
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        events: list[SSEEvent] = []
        data = self._data
        for raw in lines:
            if not raw:
                if data:
                    events.append(SSEEvent(self._event or "message", "\n".join(data), self._id))
                    data = self._data = []
                self._event = ""
                continue
            line = raw.decode("utf-8", "replace")
            if line.startswith("data:"):
                value = line[5:]
                data.append(value[1:] if value[:1] == " " else value)
                continue
            if line[0] == ":":
                continue  # a comment: keep-alive
            name, colon, value = line.partition(":")
            if colon and value[:1] == " ":
                value = value[1:]
            if name == "event":
                self._event = value
            elif name == "data":
                data.append(value)  # "data" with no colon: an empty data line
            elif name == "id" and "\0" not in value:
                self._id = value
            # "retry" and unknown fields are ignored, as the spec says.
        return events


class NDJSONDecoder:
    """Newline-delimited JSON: one object per line, blank lines ignored."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def pending(self) -> bool:
        return bool(self._buffer.strip())

    def feed(self, chunk: bytes) -> list[Any]:
        buffer = self._buffer + chunk if self._buffer else chunk
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        return [_loads(line) for line in lines if line.strip()]

    def close(self) -> list[Any]:
        """The last line may lack its newline; a partial object is an invalid response."""
        rest, self._buffer = self._buffer, b""
        return [_loads(rest)] if rest.strip() else []


def _loads(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        excerpt = line[:80].decode("utf-8", "replace")
        raise LLMError("invalid_response", f"malformed JSON line in stream: {excerpt!r}") from exc


def loads_event(data: str) -> Any:
    """Parse one event's JSON payload; garbage is an invalid response, not a crash."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise LLMError(
            "invalid_response", f"malformed JSON in stream event: {data[:80]!r}"
        ) from exc
