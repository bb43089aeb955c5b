"""The change feed: what another process committed (a decision, a request, a turn moving, an
owner coming or going), heard at once and read without re-reading tables.

Every write that another process may wait on appends one row to `changes` in the same
transaction (`note_change`). A `ChangeWatch` learns that the store moved and returns the
rows after the last one it returned; an `EventTail` does the same for the event stream.
How it learns depends on the backend:

- SQLite: `PRAGMA data_version` on the watch's own connection (a few microseconds, no table
  read) every `interval_s`; only when that number moves does it read `seq > last`.
- PostgreSQL: the server pushes a notification when a row is appended (LISTEN/NOTIFY,
  `store/notify.py`); the watch blocks on its socket and reads only when woken. No polling.

On PostgreSQL a sequence hands out numbers at insert, not at commit, so appenders take an
advisory lock until they commit: `seq` order is commit order, and `seq > last` never skips a
row that commits late.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, Protocol, Self

from opscopilot.store import db
from opscopilot.store.backend import Connection, DatabaseError, SqliteConnection
from opscopilot.store.base import StoreBase
from opscopilot.store.errors import StoreError, from_exception
from opscopilot.store.location import StoreLocation
from opscopilot.store.notify import CHANGES, EVENTS
from opscopilot.store.records import Change, ChangeKind

if TYPE_CHECKING:
    from opscopilot.events import Event

POLL_INTERVAL_S = 0.05  # how often a SQLite watch looks at data_version
CHANGES_LOCK = "opscopilot-changes"

_CHANGE_COLUMNS = "seq, kind, key, session_id, turn_id, at"


def note_change(
    conn: Connection,
    kind: ChangeKind,
    key: str,
    *,
    session_id: str | None,
    turn_id: str | None,
    at: float,
) -> None:
    """Append one row to the change feed, inside the caller's transaction (its last write:
    the feed's lock is held until the commit)."""
    conn.lock(CHANGES_LOCK)
    conn.execute(
        "INSERT INTO changes (kind, key, session_id, turn_id, at) VALUES (?, ?, ?, ?, ?)",
        [kind, key, session_id, turn_id, at],
    )


def _change(row: Iterable) -> Change:
    seq, kind, key, session_id, turn_id, at = tuple(row)
    return Change(seq=seq, kind=kind, key=key, session_id=session_id, turn_id=turn_id, at=at)


class _Signal(Protocol):
    """How a watch learns that rows were appended: `moved` says whether anything changed
    since it last said so (without blocking; `exact`: including a commit that returned just
    now, whose push may still be on its way); `wait_moved` blocks until then."""

    conn: Connection
    lock: threading.RLock

    def moved(self, *, exact: bool) -> bool: ...

    def wait_moved(self, timeout: float) -> bool: ...

    async def async_wait(self, timeout: float) -> None: ...

    def close(self) -> None: ...


class _PolledSignal:
    """SQLite: `PRAGMA data_version` moves when any other connection commits."""

    def __init__(self, location: StoreLocation, interval_s: float) -> None:
        assert location.path is not None
        self.conn = SqliteConnection(db.open_reader(location.path), named_rows=False)
        self.lock = threading.RLock()
        self.interval_s = interval_s
        self._version: int | None = None

    def moved(self, *, exact: bool) -> bool:
        version = self.conn.data_version()
        moved, self._version = version != self._version, version
        return moved

    def wait_moved(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.conn.data_version() != self._version:
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.interval_s, left))

    async def async_wait(self, timeout: float) -> None:
        import anyio

        await anyio.sleep(min(self.interval_s, timeout))

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class _PushedSignal:
    """PostgreSQL: a LISTEN connection, woken by the server when a row is appended."""

    def __init__(self, location: StoreLocation, channel: str) -> None:
        from opscopilot.store.notify import Listener

        self.listener = Listener(location, (channel,))
        self.conn = self.listener.conn
        self.lock = self.listener.lock
        self._dirty = True  # rows may be there already (a watch that starts `after` a seq)

    def moved(self, *, exact: bool) -> bool:
        pushed = self.listener.drain()  # read now, so they wake no later wait
        moved = exact or self._dirty or bool(pushed)
        self._dirty = False
        return moved

    def wait_moved(self, timeout: float) -> bool:
        if not self._dirty and self.listener.wait(timeout):
            self._dirty = True
        return self._dirty

    async def async_wait(self, timeout: float) -> None:
        import anyio

        # Only the wait runs in the thread: a cancelled caller loses no rows.
        await anyio.to_thread.run_sync(self.wait_moved, timeout, abandon_on_cancel=True)

    def close(self) -> None:
        self.listener.close()


def _signal(location: StoreLocation, channel: str, interval_s: float) -> _Signal:
    if location.is_postgres:
        return _PushedSignal(location, channel)
    return _PolledSignal(location, interval_s)


class _Feed:
    """What ChangeWatch and EventTail share: their own signal (and connection), the seq they
    have read up to, an async wait that never blocks the event loop, and closing."""

    channel = ""  # the notify channel that wakes it on PostgreSQL

    def __init__(
        self,
        location: StoreLocation,
        *,
        after: int | None = None,
        interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._signal = _signal(location, self.channel, interval_s)
        self._closed = False
        try:
            with self._signal.lock:
                self.after = self._newest() if after is None else after
        except BaseException:
            self._signal.close()
            raise

    def _newest(self) -> int:
        raise NotImplementedError  # each feed reads its own table's newest seq

    async def _next(self, read: Callable[[], list[Any]], timeout: float) -> list[Any]:
        """`read` once something was committed (or `timeout` s passed: [])."""
        import anyio

        deadline = anyio.current_time() + timeout
        while True:
            found = await anyio.to_thread.run_sync(read)
            left = deadline - anyio.current_time()
            if found or left <= 0 or self._closed:
                return found
            await self._signal.async_wait(left)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._signal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ChangeWatch(_Feed):
    """What a process waits on to hear about other processes' commits (its own connection;
    close it when done). Starts after the newest change at creation, unless `after` says."""

    channel = CHANGES

    @property
    def pushed(self) -> bool:
        """True when the server pushes changes (PostgreSQL); False when the watch polls."""
        return isinstance(self._signal, _PushedSignal)

    def _newest(self) -> int:
        with self._signal.lock:
            try:
                row = self._signal.conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) FROM changes"
                ).fetchone()
            except DatabaseError as exc:
                raise from_exception(exc, "cannot read the change feed") from None
        return int(row[0])

    def poll(self) -> list[Change]:
        """The changes committed since the last call (never blocks for long; [] when none)."""
        return self._read(exact=True)

    def _read(self, *, exact: bool) -> list[Change]:
        with self._signal.lock:
            if self._closed:
                raise StoreError("io", "the change watch is closed")
            try:
                if not self._signal.moved(exact=exact):
                    return []
                rows = self._signal.conn.execute(
                    f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq",
                    [self.after],
                ).fetchall()
            except DatabaseError as exc:
                raise from_exception(exc, "cannot read the change feed") from None
            changes = [_change(row) for row in rows]
            if changes:
                self.after = changes[-1].seq
            return changes

    def wait(self, timeout: float) -> list[Change]:
        """Block until there are changes (or `timeout` seconds passed, or the watch was
        closed: [])."""
        deadline = time.monotonic() + timeout
        while True:
            if self._closed:
                return []
            changes = self._read(exact=False)
            left = deadline - time.monotonic()
            if changes or left <= 0 or self._closed:
                return changes
            self._signal.wait_moved(left)

    async def next(self, timeout: float) -> list[Change]:
        """`wait`, for async code: cancellable, never blocks the event loop."""
        return await self._next(lambda: self._read(exact=False), timeout)


class EventTail(_Feed):
    """New stored events of some sessions, whichever process (or host) wrote them, in
    commit order; woken like a ChangeWatch (data_version on SQLite, pushed on PostgreSQL)."""

    channel = EVENTS

    def _newest(self) -> int:
        row = self._signal.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(row[0])

    def poll(self, session_ids: Collection[str]) -> list[tuple[int, Event]]:
        """The asked sessions' events committed since the last poll ([] when none)."""
        return self._read(session_ids, exact=True)

    def _read(self, session_ids: Collection[str], *, exact: bool) -> list[tuple[int, Event]]:
        from opscopilot.events import EVENT_ADAPTER

        with self._signal.lock:
            if self._closed:
                raise StoreError("io", "the event tail is closed")
            try:
                if not self._signal.moved(exact=exact):
                    return []
                # The horizon first: seq order is commit order, so every row up to it is
                # there to read, and rows committed meanwhile wait for the next poll.
                newest = self._newest()
                rows = []
                if session_ids:
                    marks = ", ".join("?" * len(session_ids))
                    rows = self._signal.conn.execute(
                        f"SELECT seq, data FROM events WHERE seq > ? AND seq <= ? "
                        f"AND session_id IN ({marks}) ORDER BY seq",
                        [self.after, newest, *session_ids],
                    ).fetchall()
            except DatabaseError as exc:
                raise from_exception(exc, "cannot read new events") from None
            self.after = max(self.after, newest)
            return [(seq, EVENT_ADAPTER.validate_json(data)) for seq, data in rows]

    async def next(self, session_ids: Collection[str], timeout: float) -> list[tuple[int, Event]]:
        """`poll` once something was stored (or `timeout` s passed: []), for async code."""
        return await self._next(lambda: self._read(session_ids, exact=False), timeout)


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
        return ChangeWatch(self.location, after=after, interval_s=interval_s)

    def tail_events(
        self, *, after: int | None = None, interval_s: float = POLL_INTERVAL_S
    ) -> EventTail:
        """New events of chosen sessions as other processes store them (close it when done)."""
        self._check_open()
        return EventTail(self.location, after=after, interval_s=interval_s)

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
