"""Recording format v1: a JSON-lines file, a header line, then one timed event per line.

    {"format": "opscopilot-recording", "version": 1, "app_version": "0.1.0",
     "created": "2026-11-20T23:00:00Z", "models": ["builtin:ops"], "session_id": "...",
     "title": "...", "label": "..."}
    {"t": 0.0, "event": {"type": "turn.started", "ts": 1763679600.0, ...}}
    {"t": 0.013, "event": {"type": "model.text", ...}}

`t` is the offset in seconds from the first event. Events are the one vocabulary of
`opscopilot.events`, so a recording is readable by anything that reads events. Every string
is passed through `opscopilot.redact` on write: keys, bearer tokens and the operator's own
patterns never reach the file. See docs/recordings.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opscopilot import __version__, redact
from opscopilot.events import Event, parse_event

FORMAT_NAME = "opscopilot-recording"
FORMAT_VERSION = 1


class RecordingError(Exception):
    """A recording that can't be read or written; the message is one line naming the file."""


class RecordingHeader(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION
    app_version: str = __version__
    created: str = Field(default_factory=lambda: iso_utc(datetime.now(UTC).timestamp()))
    models: list[str] = Field(default_factory=list)
    session_id: str | None = None
    title: str = ""
    label: str = ""  # e.g. "sample: made with opscopilot itself"


@dataclass(slots=True)
class TimedEvent:
    offset: float
    event: Event


@dataclass
class Recording:
    header: RecordingHeader
    events: list[TimedEvent] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.events[-1].offset if self.events else 0.0


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value (before serialising, so escapes can't hide a key)."""
    if isinstance(value, str):
        return redact.redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


class RecordingWriter:
    """Appends events to a recording as they happen; the file is valid JSONL after every line."""

    def __init__(self, path: Path | str, header: RecordingHeader) -> None:
        self.path = Path(path)
        self._origin: float | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] = self.path.open("w", encoding="utf-8")
            self._write_line(redact_value(header.model_dump(mode="json")))
        except OSError as exc:
            raise RecordingError(f"cannot write recording {self.path}: {exc.strerror}") from None

    @classmethod
    def reopen(cls, path: Path | str) -> RecordingWriter:
        """Append to an existing recording; offsets keep counting from its first event."""
        recording = read_recording(path)
        writer = cls.__new__(cls)
        writer.path = Path(path)
        writer._origin = recording.events[0].event.ts if recording.events else None
        try:
            writer._file = writer.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise RecordingError(f"cannot write recording {writer.path}: {exc.strerror}") from None
        return writer

    def write(self, event: Event) -> None:
        if self._origin is None:
            self._origin = event.ts
        offset = round(max(event.ts - self._origin, 0.0), 6)
        self._write_line({"t": offset, "event": redact_value(event.model_dump(mode="json"))})

    def _write_line(self, data: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        except OSError as exc:
            raise RecordingError(f"cannot write recording {self.path}: {exc.strerror}") from None

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_recording(path: Path | str, header: RecordingHeader, events: Iterable[Event]) -> int:
    """Write a whole recording; returns the number of events written."""
    count = 0
    with RecordingWriter(path, header) as writer:
        for event in events:
            writer.write(event)
            count += 1
    return count


def iter_lines(path: Path | str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with Path(path).open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except ValueError:
                    raise RecordingError(f"{path}:{number}: not a JSON line") from None
    except OSError as exc:
        raise RecordingError(f"cannot read recording {path}: {exc.strerror}") from None


def read_header(path: Path | str) -> RecordingHeader:
    for number, data in iter_lines(path):
        return _check_header(path, number, data)
    raise RecordingError(f"{path}: empty file, not a recording")


def _check_header(path: Path | str, number: int, data: dict[str, Any]) -> RecordingHeader:
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise RecordingError(f"{path}:{number}: not an opscopilot recording (no header line)")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise RecordingError(
            f"{path}: recording version {version!r} is not one this opscopilot reads"
        )
    if version > FORMAT_VERSION:
        raise RecordingError(
            f"{path}: recording format v{version} is newer than this opscopilot "
            f"(reads v1 to v{FORMAT_VERSION}); upgrade opscopilot to play it"
        )
    return RecordingHeader.model_validate(data)


def read_recording(path: Path | str) -> Recording:
    """Read and validate a whole recording; any bad line is one RecordingError naming it."""
    recording: Recording | None = None
    for number, data in iter_lines(path):
        if recording is None:
            recording = Recording(header=_check_header(path, number, data))
            continue
        try:
            event = parse_event(data["event"])
            offset = float(data["t"])
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            detail = str(exc).splitlines()[0]
            raise RecordingError(f"{path}:{number}: not a valid event line ({detail})") from None
        recording.events.append(TimedEvent(offset, event))
    if recording is None:
        raise RecordingError(f"{path}: empty file, not a recording")
    return recording
