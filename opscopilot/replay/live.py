"""Recording sessions while they happen: `run --record`, `tui --record`, `[recording] always`.

A `SessionRecorder` is fed the runtime's EventBus events as they are published and writes
each session's events to its own v1 recording (a `RecordingWriter` per session). Events of
no session (the scheduler's metrics, process notices) are not part of any session, so they
are left out — exactly as `opscopilot sessions export` leaves them out, which is what makes a
live recording and an export of the same session equal event for event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opscopilot import config
from opscopilot import events as ev
from opscopilot.replay.recording import (
    RecordingError,
    RecordingHeader,
    RecordingWriter,
    iso_utc,
    read_header,
)
from opscopilot.runtime.persist import PersistFilter

# Streamed pieces arrive many per second; everything else is flushed to disk at once so a
# crash loses at most the tail of one answer.
_UNFLUSHED = frozenset({"model.text", "model.thinking", "tool.output", "model.usage"})


@dataclass(frozen=True)
class RecordingSettings:
    """Whether to record, into which folder, and (for one session) which file."""

    enabled: bool
    directory: Path
    file: Path | None = None


def recording_settings(flag: str | bool | None) -> RecordingSettings:
    """Flag > config.toml `[recording] always/dir` > off.

    `flag` is None when the option was not given, True or "" when given without a file,
    and a path string when given with one.
    """
    section = config.section("recording")
    always = section.get("always", False)
    if not isinstance(always, bool):
        raise config.ConfigError(
            f"{config.config_path()}: [recording] always must be true or false"
        )
    folder = section.get("dir")
    if folder is not None and (not isinstance(folder, str) or not folder.strip()):
        raise config.ConfigError(f"{config.config_path()}: [recording] dir must be a folder path")
    directory = Path(folder).expanduser() if folder else config.recordings_dir()
    if isinstance(flag, str) and flag:
        return RecordingSettings(True, directory, Path(flag).expanduser())
    return RecordingSettings(bool(flag is not None and flag is not False) or always, directory)


class SessionRecorder:
    """Writes every session's events, as they arrive, to `<directory>/<session_id>.jsonl`.

    With `file`, the first session seen is written there instead (one-session commands).
    `on_open(session_id, path)` is called once per file, so the caller can say where it is.
    """

    def __init__(
        self,
        directory: Path,
        *,
        file: Path | None = None,
        label: str = "",
        on_open: Callable[[str, Path], None] | None = None,
    ) -> None:
        self.directory = directory
        self.file = file
        self.label = label
        self.on_open = on_open
        self._writers: dict[str, RecordingWriter] = {}
        self._filter = PersistFilter()
        self.paths: dict[str, Path] = {}

    def write(self, event: ev.Event) -> None:
        """Take one live event; what the store would keep of it goes to its session's recording.

        Every event passes the same filter as the store's (streamed text in redacted chunks),
        events of no session included, so the chunks fall exactly where the store's do.
        """
        for persisted in self._filter.feed(event):
            self._write_one(persisted)

    def _write_one(self, event: ev.Event) -> None:
        session_id = event.session_id
        if session_id is None:
            return
        writer = self._writers.get(session_id)
        if writer is None:
            writer = self._open(session_id, event)
        writer.write(event)
        if event.type not in _UNFLUSHED:
            writer.flush()

    def _open(self, session_id: str, first: ev.Event) -> RecordingWriter:
        if self.file is not None and not self._writers:
            path = self.file
        else:
            path = self.directory / f"{session_id}.jsonl"
        if _same_session(path, session_id):  # a later turn of a recorded session: carry on
            writer = self._writers[session_id] = RecordingWriter.reopen(path)
            self.paths[session_id] = path
            if self.on_open is not None:
                self.on_open(session_id, path)
            return writer
        models = [first.model] if isinstance(first, ev.TurnStarted | ev.SessionStarted) else []
        title = first.title if isinstance(first, ev.SessionStarted) else ""
        if isinstance(first, ev.TurnStarted):
            title = first.prompt[:80]
        header = RecordingHeader(
            models=models,
            session_id=session_id,
            title=title,
            label=self.label,
            created=iso_utc(first.ts),
        )
        writer = self._writers[session_id] = RecordingWriter(path, header)
        self.paths[session_id] = path
        if self.on_open is not None:
            self.on_open(session_id, path)
        return writer

    def close(self) -> None:
        for persisted in self._filter.flush():
            self._write_one(persisted)
        for writer in self._writers.values():
            writer.close()


def _same_session(path: Path, session_id: str) -> bool:
    """Whether `path` already holds a readable recording of this session."""
    if not path.is_file():
        return False
    try:
        return read_header(path).session_id == session_id
    except RecordingError:
        return False
