"""Where a batch run keeps its progress: two tables on migration track "batch".

A run is keyed by its tickets file and report path, so the same command started again
finds it and continues. Each ticket's session id is chosen and written down before the
ticket's turn starts, so a restart resumes that very turn (the runtime's journal then makes
sure no tool runs twice) instead of starting a second one.

A ticket is `pending` (not started), `running` (started; after a kill it resumes),
`paused` (its turn waits for an approval: a later run continues it once decided) or
`done`. Reads stream rows (`work`, `outcomes`) so a run's memory does not grow with its size.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opscopilot.store.db import migrate, open_database


def _v1(db: Any) -> None:
    db.execute(
        "CREATE TABLE batch_runs (id TEXT PRIMARY KEY, tickets_path TEXT NOT NULL, "
        "report_path TEXT NOT NULL, options TEXT NOT NULL, created_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE batch_items (run_id TEXT NOT NULL REFERENCES batch_runs(id), "
        "ticket_id TEXT NOT NULL, ordinal INTEGER NOT NULL, status TEXT NOT NULL, "
        "session_id TEXT, outcome TEXT, finished_at REAL, PRIMARY KEY (run_id, ticket_id))"
    )


def _v2(db: Any) -> None:
    # Runs made before tickets could pause recorded a paused ticket as done; its outcome
    # says it waits, so it becomes `paused` and a rerun continues it once decided.
    db.execute(
        "UPDATE batch_items SET status = 'paused' "
        "WHERE status = 'done' AND outcome LIKE '%\"status\": \"awaiting_approval\"%'"
    )
    db.execute("CREATE INDEX batch_items_order ON batch_items (run_id, ordinal, ticket_id)")


MIGRATIONS = [_v1, _v2]


@dataclass
class Item:
    ticket_id: str
    ordinal: int
    status: str  # pending | running | paused | done
    session_id: str | None
    outcome: dict[str, Any] | None


def run_key(tickets_path: Path, report_path: Path) -> str:
    text = f"{tickets_path.resolve()}\n{report_path.resolve()}"
    return "b-" + hashlib.sha256(text.encode()).hexdigest()[:12]


class BatchState:
    """Progress of one run, durable on every call (several workers share it under a lock)."""

    def __init__(self, db_path: Any, run_id: str) -> None:
        """`db_path`: the SQLite file, a store URL or location, or None (the configured store)."""
        self._conn = open_database(db_path)
        migrate(self._conn, "batch", MIGRATIONS)
        self._lock = threading.Lock()
        self.run_id = run_id

    def close(self) -> None:
        self._conn.close()

    def _write(self, sql: str, params: list[Any]) -> None:
        with self._lock:
            self._conn.begin()
            try:
                self._conn.execute(sql, params)
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise

    def open_run(
        self,
        tickets_path: Path,
        report_path: Path,
        options: dict[str, Any],
        ticket_ids: list[str],
        now: float,
    ) -> bool:
        """Create the run (True) or find it (False); new ticket ids are added either way."""
        with self._lock:
            self._conn.begin()
            try:
                existing = self._conn.execute(
                    "SELECT 1 FROM batch_runs WHERE id = ?", [self.run_id]
                ).fetchone()
                if existing is None:
                    self._conn.execute(
                        "INSERT INTO batch_runs VALUES (?, ?, ?, ?, ?)",
                        [
                            self.run_id,
                            str(tickets_path.resolve()),
                            str(report_path.resolve()),
                            json.dumps(options, sort_keys=True),
                            now,
                        ],
                    )
                self._conn.executemany(
                    "INSERT INTO batch_items (run_id, ticket_id, ordinal, status) "
                    "VALUES (?, ?, ?, 'pending') "
                    "ON CONFLICT (run_id, ticket_id) DO UPDATE SET ordinal = excluded.ordinal",
                    [(self.run_id, ticket_id, n) for n, ticket_id in enumerate(ticket_ids)],
                )
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
        return existing is None

    def _pages(self, columns: str, where: str, size: int = 500) -> Iterator[tuple[Any, ...]]:
        """Rows of this run in ticket order, a page at a time (keyset paging: no cursor is
        held open between pages, so writers are never blocked by a long read)."""
        last: tuple[int, str] = (-1, "")
        while True:
            with self._lock:
                page = self._conn.execute(
                    f"SELECT ordinal, ticket_id, {columns} FROM batch_items WHERE run_id = ? "
                    "AND (ordinal > ? OR (ordinal = ? AND ticket_id > ?)) "
                    f"AND {where} ORDER BY ordinal, ticket_id LIMIT ?",
                    [self.run_id, last[0], last[0], last[1], size],
                ).fetchall()
            yield from (row[2:] for row in page)
            if len(page) < size:
                return
            last = (page[-1][0], page[-1][1])

    def work(self, page_size: int = 500) -> Iterator[list[Item]]:
        """The tickets not done yet, in ticket order, a page at a time (outcomes of paused
        ones included): call `next` on it from a worker thread."""
        page: list[Item] = []
        for r in self._pages(
            "ticket_id, ordinal, status, session_id, outcome", "status != 'done'", page_size
        ):
            page.append(Item(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else None))
            if len(page) == page_size:
                yield page
                page = []
        if page:
            yield page

    def outcomes(self) -> Iterator[dict[str, Any]]:
        """Every report line written so far, in ticket order."""
        for (outcome,) in self._pages("outcome", "outcome IS NOT NULL"):
            yield json.loads(outcome)

    def sessions(self) -> Iterator[str]:
        """The session of every ticket that started."""
        for (session_id,) in self._pages("session_id", "session_id IS NOT NULL"):
            yield session_id

    def items(self) -> list[Item]:
        """Every ticket of the run (tests and small tools; the runner streams `work`)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT ticket_id, ordinal, status, session_id, outcome FROM batch_items "
                "WHERE run_id = ? ORDER BY ordinal",
                [self.run_id],
            ).fetchall()
        return [Item(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else None) for r in rows]

    def started(self, ticket_id: str, session_id: str) -> None:
        self._write(
            "UPDATE batch_items SET status = 'running', session_id = ? "
            "WHERE run_id = ? AND ticket_id = ?",
            [session_id, self.run_id, ticket_id],
        )

    def finished(self, ticket_id: str, outcome: dict[str, Any], now: float) -> None:
        """Record a ticket's report line: `paused` when its turn waits for approval, else `done`."""
        status = "paused" if outcome.get("status") == "awaiting_approval" else "done"
        self._write(
            "UPDATE batch_items SET status = ?, outcome = ?, finished_at = ? "
            "WHERE run_id = ? AND ticket_id = ?",
            [status, json.dumps(outcome, sort_keys=True), now, self.run_id, ticket_id],
        )
