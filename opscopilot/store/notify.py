"""Pushed changes on a team store: PostgreSQL's LISTEN/NOTIFY, no polling.

A trigger on the tables other processes wait on sends a notification when a statement
appends to them: `opscopilot_changes` for the change feed (every decision, request, turn
move and owner change writes a row there, see `store/changes.py`) and `opscopilot_events`
for the event stream (a TUI showing another host's turn). The server delivers it at commit,
to every connection listening, on every host. `Listener` is one such connection: `wait`
blocks on its socket (and on a wake-up pipe, so `close` from another thread returns at once)
until a notification arrives or the timeout passes; the same connection reads the rows.

Migration track `notify`: its steps do nothing on SQLite, where a watch reads
`PRAGMA data_version` instead.
"""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from collections.abc import Sequence

from opscopilot.store.backend import Connection, DatabaseError, connect_postgres
from opscopilot.store.errors import StoreError
from opscopilot.store.location import StoreLocation, resolve

TRACK = "notify"
CHANGES = "opscopilot_changes"  # a row appended to the change feed
EVENTS = "opscopilot_events"  # events appended to the event stream
CHANNEL = CHANGES
# Tables whose appends are pushed, on the channel `opscopilot_<table>`.
PUSHED_TABLES = ("changes", "events")


def _v1_notify_on_append(db: Connection) -> None:
    if db.dialect != "postgresql":
        return
    db.execute(
        "CREATE OR REPLACE FUNCTION opscopilot_notify_append() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_notify('opscopilot_' || TG_TABLE_NAME, TG_TABLE_NAME); RETURN NULL; END $$"
    )
    for table in PUSHED_TABLES:
        db.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION opscopilot_notify_append()"
        )


STEPS = [_v1_notify_on_append]


def _close_fds(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


class Listener:
    """One connection LISTENing on some of the store's channels (PostgreSQL only).

    `conn` reads on the same connection, so nothing committed between a notification and
    the read that follows it is missed. Usable from several threads; `wait` holds no lock
    while it blocks.
    """

    def __init__(
        self, target: StoreLocation | str | None = None, channels: Sequence[str] = (CHANGES,)
    ) -> None:
        location = resolve(target)
        if not location.is_postgres:
            raise StoreError("io", "pushed changes need a PostgreSQL store")
        try:
            self.conn = connect_postgres(location)
            for channel in channels:
                self.conn.execute(f"LISTEN {channel}")
        except DatabaseError as exc:
            raise StoreError("io", str(exc)) from None
        self.location = location
        self.lock = threading.RLock()  # held while the connection is used
        self._wake_r, self._wake_w = os.pipe()
        # The pipe outlives `close` (a waiter may still be selecting on it).
        weakref.finalize(self, _close_fds, self._wake_r, self._wake_w)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def drain(self) -> list[str]:
        """The payloads of every notification already received, without waiting."""
        with self.lock:
            if self._closed:
                raise StoreError("io", "the change listener is closed")
            raw = self.conn.raw  # type: ignore[attr-defined]
            try:
                return [notice.payload for notice in raw.notifies(timeout=0)]
            except Exception as exc:  # the driver's own error, as the store's one line
                raise StoreError(
                    "io", f"the change listener failed: {self.location.scrub(str(exc))}"
                ) from None

    def wait(self, timeout: float) -> list[str]:
        """Block until a change is pushed (or `timeout` s pass, or the listener is closed:
        []); the payloads received, including every notification already waiting."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                pushed = self.drain()
            except StoreError:
                if self._closed:
                    return []
                raise
            left = deadline - time.monotonic()
            if pushed or left <= 0:
                return pushed
            try:
                readable, _, _ = select.select(
                    [self.conn.raw.fileno(), self._wake_r],  # type: ignore[attr-defined]
                    [],
                    [],
                    left,
                )
            except (OSError, ValueError):
                return []  # closed under us
            if self._wake_r in readable:
                return []

    def close(self) -> None:
        """Close the connection; a `wait` in another thread returns [] at once."""
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_w, b"x")
        with self.lock:
            self.conn.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
