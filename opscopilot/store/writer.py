"""The batched event writer: streaming appends go to memory, a thread commits them in batches.

A model streams hundreds of deltas a second; committing each would make the stream wait on
the disk. Instead `append` only queues the row, and one thread with its own connection
commits whatever arrived within a short window (or a full batch) in one transaction.
`flush` blocks until everything queued before it is committed, from any thread.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import deque
from pathlib import Path

from opscopilot.store import db
from opscopilot.store.errors import StoreError, from_exception
from opscopilot.store.location import StoreLocation

EventRow = tuple[float, str | None, str | None, str, str]  # ts, session, turn, type, data

BATCH_WINDOW_S = 0.02
BATCH_MAX = 256
_RETRY_DELAYS_S = (0.05, 0.1, 0.25, 0.5, 1.0)

_COLUMNS = ("ts", "session_id", "turn_id", "type", "data")
# On PostgreSQL, sequence numbers are handed out at insert, not at commit; writers take this
# lock so that seq order is commit order (a reader tailing `seq > N` never skips a row).
EVENTS_LOCK = "opscopilot-events"


class EventWriter:
    """Owns one connection and one thread; rows wait in memory at most one batch window."""

    def __init__(
        self,
        path: StoreLocation | Path,
        *,
        batch_window_s: float = BATCH_WINDOW_S,
        batch_max: int = BATCH_MAX,
    ) -> None:
        self._conn = db.open_database(path)
        self._window_s = batch_window_s
        self._batch_max = batch_max
        self._pending: deque[EventRow] = deque()
        self._cond = threading.Condition()
        self._enqueued = 0
        self._committed = 0
        self._failures = 0
        self._error: StoreError | None = None
        self._flushers = 0
        self._closing = False
        self._thread = threading.Thread(
            target=self._run, name="opscopilot-event-writer", daemon=True
        )
        self._thread.start()
        atexit.register(self._close_at_exit)

    @property
    def committed(self) -> int:
        """How many rows this writer has committed since it started."""
        return self._committed

    def append(self, row: EventRow) -> None:
        """Queue one row; returns at once (never touches the disk)."""
        with self._cond:
            if self._closing:
                raise StoreError("io", "the store is closed; the event was not recorded")
            self._pending.append(row)
            self._enqueued += 1
            if len(self._pending) == 1 or len(self._pending) >= self._batch_max:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every row queued before this call is committed; raise if writing fails."""
        with self._cond:
            target = self._enqueued
            failures_before = self._failures
            self._flushers += 1
            self._cond.notify_all()
            deadline = None if timeout is None else time.monotonic() + timeout
            try:
                while self._committed < target:
                    if self._failures > failures_before and self._error is not None:
                        raise self._error
                    if not self._thread.is_alive():
                        raise StoreError("io", "the event writer has stopped; events not written")
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise StoreError("locked", f"events not written within {timeout:g} s")
                    self._cond.wait(remaining if remaining is not None else 1.0)
            finally:
                self._flushers -= 1

    def close(self) -> None:
        """Commit what is queued, stop the thread and close the connection."""
        atexit.unregister(self._close_at_exit)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._conn.close()
        with self._cond:
            left = len(self._pending)
            error = self._error
        if left:
            reason = f": {error}" if error else ""
            raise StoreError(
                error.kind if error else "io", f"{left} events could not be written{reason}"
            )

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except StoreError:
            pass  # the interpreter is exiting; nowhere left to report it

    def _run(self) -> None:
        retry = 0
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._write(batch)
            except Exception as exc:  # anything the disk says; the rows go back in line
                with self._cond:
                    self._pending.extendleft(reversed(batch))
                    self._error = from_exception(exc, "cannot write events")
                    self._failures += 1
                    self._cond.notify_all()
                    if self._closing:
                        return  # close() reports what was left
                    self._cond.wait(_RETRY_DELAYS_S[min(retry, len(_RETRY_DELAYS_S) - 1)])
                retry += 1
                continue
            retry = 0
            with self._cond:
                self._committed += len(batch)
                self._error = None
                self._cond.notify_all()

    def _next_batch(self) -> list[EventRow] | None:
        """Wait for rows, then up to one window for more; None once closed and drained."""
        with self._cond:
            while not self._pending:
                if self._closing:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + self._window_s
            while len(self._pending) < self._batch_max and not self._closing and not self._flushers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            count = min(len(self._pending), self._batch_max)
            return [self._pending.popleft() for _ in range(count)]

    def _write(self, batch: list[EventRow]) -> None:
        self._conn.begin()
        try:
            self._conn.lock(EVENTS_LOCK)
            self._conn.insert_many("events", _COLUMNS, batch)
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise
