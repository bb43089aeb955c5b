"""The change feed: what another process committed (a decision, a request, a turn moving, an
owner coming or going), noticed within a poll interval and read without re-reading tables.

Every write that another process may wait on appends one row to `changes` in the same
transaction (`note_change`). A `ChangeWatch` notices that the database moved and returns
the rows after the last one it returned. On SQLite it polls `PRAGMA data_version` on its own
connection (a few microseconds, no table read) every `interval_s`; only when that number
moves does it read `changes WHERE seq > last`. The interface (`poll`, `wait`, `next`) is
what a push channel (PostgreSQL's LISTEN/NOTIFY) implements just as well.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from opscopilot.store import db
from opscopilot.store.base import StoreBase
from opscopilot.store.errors import StoreError, from_exception
from opscopilot.store.records import Change, ChangeKind

if TYPE_CHECKING:
    from opscopilot.events import Event

POLL_INTERVAL_S = 0.05  # how often a SQLite watch looks at data_version

_CHANGE_COLUMNS = "seq, kind, key, session_id, turn_id, at"


def note_change(
    conn: sqlite3.Connection,
    kind: ChangeKind,
    key: str,
    *,
    session_id: str | None,
    turn_id: str | None,
    at: float,
) -> None:
    """Append one row to the change feed, inside the caller's transaction."""
    conn.execute(
        "INSERT INTO changes (kind, key, session_id, turn_id, at) VALUES (?, ?, ?, ?, ?)",
        [kind, key, session_id, turn_id, at],
    )


def _reader(path: Path) -> sqlite3.Connection:
    """A connection that only reads: no schema work, so opening it never waits for a lock."""
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=db.BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {db.BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise from_exception(exc, f"cannot open database {path}") from None
    return conn


def _change(row: sqlite3.Row | tuple) -> Change:
    seq, kind, key, session_id, turn_id, at = tuple(row)
    return Change(seq=seq, kind=kind, key=key, session_id=session_id, turn_id=turn_id, at=at)


class ChangeWatch(Protocol):
    """What a process waits on to hear about other processes' commits."""

    def poll(self) -> list[Change]:
        """The changes committed since the last call (never blocks for long; [] when none)."""
        ...

    def wait(self, timeout: float) -> list[Change]:
        """Block until there are changes (or `timeout` seconds passed: [])."""
        ...

    async def next(self, timeout: float) -> list[Change]:
        """`wait`, for async code: cancellable, never blocks the event loop."""
        ...

    def close(self) -> None: ...


class SqliteChangeWatch:
    """A ChangeWatch on a SQLite file: `PRAGMA data_version` polled on a dedicated connection.

    `data_version` changes whenever any other connection (this process's store included)
    committed; a watch with nothing new costs one pragma per interval. Starts after the
    newest change at creation, unless `after` says where.
    """

    def __init__(
        self, path: Path, *, after: int | None = None, interval_s: float = POLL_INTERVAL_S
    ) -> None:
        self.interval_s = interval_s
        self._conn = _reader(path)
        self._lock = threading.Lock()
        self._version: int | None = None
        self.after = self._newest() if after is None else after

    def _newest(self) -> int:
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()
        return int(row[0])

    def poll(self) -> list[Change]:
        with self._lock:
            if self._conn is None:
                raise StoreError("io", "the change watch is closed")
            try:
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                if version == self._version:
                    return []
                self._version = version
                rows = self._conn.execute(
                    f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq",
                    [self.after],
                ).fetchall()
            except sqlite3.Error as exc:
                raise from_exception(exc, "cannot read the change feed") from None
            changes = [_change(row) for row in rows]
            if changes:
                self.after = changes[-1].seq
            return changes

    def wait(self, timeout: float) -> list[Change]:
        deadline = time.monotonic() + timeout
        while True:
            changes = self.poll()
            left = deadline - time.monotonic()
            if changes or left <= 0:
                return changes
            time.sleep(min(self.interval_s, left))

    async def next(self, timeout: float) -> list[Change]:
        import anyio

        deadline = anyio.current_time() + timeout
        while True:
            changes = await anyio.to_thread.run_sync(self.poll)
            left = deadline - anyio.current_time()
            if changes or left <= 0:
                return changes
            await anyio.sleep(min(self.interval_s, left))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> SqliteChangeWatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventTail:
    """New stored events of some sessions, whichever process wrote them, in commit order.

    Like a watch: one `PRAGMA data_version` per poll while nothing moved; when it moved, the
    rows of the asked sessions after the last poll (seq order is commit order).
    """

    def __init__(self, path: Path, *, after: int | None = None) -> None:
        self._conn = _reader(path)
        self._lock = threading.Lock()
        self._version: int | None = None
        self.after = self._newest() if after is None else after

    def _newest(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def poll(self, session_ids: Collection[str]) -> list[tuple[int, Event]]:
        from opscopilot.events import EVENT_ADAPTER

        with self._lock:
            if self._conn is None:
                raise StoreError("io", "the event tail is closed")
            try:
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                if version == self._version:
                    return []
                self._version = version
                self._conn.execute("BEGIN")  # one snapshot for the rows and the new horizon
                try:
                    rows = []
                    if session_ids:
                        marks = ", ".join("?" * len(session_ids))
                        rows = self._conn.execute(
                            f"SELECT seq, data FROM events WHERE seq > ? "
                            f"AND session_id IN ({marks}) ORDER BY seq",
                            [self.after, *session_ids],
                        ).fetchall()
                    newest = self._newest()
                finally:
                    self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise from_exception(exc, "cannot read new events") from None
            self.after = max(self.after, newest)
            return [(seq, EVENT_ADAPTER.validate_json(data)) for seq, data in rows]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]


def concerning(changes: Iterable[Change], turn_ids: set[str]) -> list[Change]:
    """The changes about any of these turns."""
    return [change for change in changes if change.turn_id in turn_ids]


class ChangesMixin(StoreBase):
    """The change-feed part of the Store facade."""

    def watch_changes(
        self, *, after: int | None = None, interval_s: float = POLL_INTERVAL_S
    ) -> ChangeWatch:
        """A watch of this store (its own connection; close it when done)."""
        self._check_open()
        return SqliteChangeWatch(self.path, after=after, interval_s=interval_s)

    def tail_events(self, *, after: int | None = None) -> EventTail:
        """New events of chosen sessions as other processes store them (close it when done)."""
        self._check_open()
        return EventTail(self.path, after=after)

    def changes_since(self, seq: int, *, limit: int | None = None) -> list[Change]:
        """Rows of the change feed after `seq`, oldest first."""
        sql = f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq"
        params: list[int] = [seq]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_change(row) for row in self._query(sql, params, "cannot read the change feed")]

    def last_change_seq(self) -> int:
        rows = self._query("SELECT COALESCE(MAX(seq), 0) FROM changes")
        return int(rows[0][0])
