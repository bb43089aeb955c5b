"""What every part of the store facade shares: the synchronous connection, its lock, transactions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opscopilot.redact import redact_value
from opscopilot.store.backend import Connection, DatabaseError
from opscopilot.store.errors import StoreError, from_exception
from opscopilot.store.location import StoreLocation
from opscopilot.store.writer import EventWriter


def dumps(value: Any) -> str:
    """Compact JSON for a column; the store's one serialisation of dicts, so every string in
    it (tool-call arguments, journal payloads and results, snapshots, errors) is redacted."""
    return json.dumps(redact_value(value), separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class StoreBase:
    """One connection for synchronous calls (guarded by a lock, usable from any thread) plus
    the event writer's own connection and thread."""

    def __init__(self, location: StoreLocation, conn: Connection, writer: EventWriter) -> None:
        self.location = location
        # The SQLite file; on PostgreSQL the location itself, which `Ledger(...)` and
        # `BatchState(...)` accept the same way, so callers pair them without asking which.
        self.path: Path | StoreLocation = location.path if location.path is not None else location
        self._conn = conn
        self._lock = threading.RLock()
        self._writer = writer
        self._closed = False

    def flush(self) -> None:
        """Block until every event queued so far is committed (durable against a crash)."""
        self._writer.flush()

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Connection]:
        """A write transaction (SQLite: taken up front with BEGIN IMMEDIATE; PostgreSQL: rows
        read to be changed are locked with `conn.for_update`), after queued events are
        committed, so an effect is never durable before the events that preceded it."""
        self._check_open()
        self._writer.flush()
        with self._lock:
            try:
                self._conn.begin()
            except DatabaseError as exc:
                raise from_exception(exc, doing) from None
            try:
                yield self._conn
            except BaseException as exc:
                try:
                    self._conn.rollback()
                except DatabaseError:
                    pass  # the connection is gone; the error below says why
                if isinstance(exc, DatabaseError):
                    raise from_exception(exc, doing) from None
                raise
            try:
                self._conn.commit()
            except DatabaseError as exc:
                try:
                    self._conn.rollback()
                except DatabaseError:
                    pass
                raise from_exception(exc, doing) from None

    def _query(self, sql: str, params: Sequence[Any] = (), doing: str = "cannot read") -> list[Any]:
        self._check_open()
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except DatabaseError as exc:
                raise from_exception(exc, doing) from None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("io", "the store is closed")
