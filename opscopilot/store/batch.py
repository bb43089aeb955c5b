"""Where a batch run keeps its progress, shared by every worker: two tables on track "batch".

A run is keyed by its name (`--run NAME`: any host that names it joins it) or, unnamed, by
its tickets file and report path, so the same command started again finds it and continues.
Each ticket's session id is chosen and written down before the ticket's turn starts, so
whoever works it next resumes that very turn (the runtime's journal then makes sure no tool
runs twice) instead of starting a second one.

A ticket is `pending` (not started), `running` (claimed by a worker, under a lease that the
worker renews), `paused` (its turn waits for an approval: a worker continues it once
decided) or `done`. A worker claims the next ticket in one transaction: the first pending
row in ticket order, or a running one whose lease ran out (its worker is presumed dead) or
whose worker was on this host (same boot, same pid namespace: `pid_space`) and its process
is gone; on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so workers never wait on each other's
claims; on SQLite under the write lock (`BEGIN IMMEDIATE`). Leases are judged by the
database server's clock, not the hosts'. Only the worker holding a ticket's lease may record
its outcome (a worker presumed dead that wakes up again is told so, and its late outcome is
dropped), so each ticket is reported once.

The run's spend for `--max-cost` is kept on its row (spent by settled tickets, reserved by
running ones) and claims are admitted against it in the same transaction, so the run's cap
holds across every worker. Reads stream rows (`work`, `outcomes`) so a run's memory does not
grow with its size.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opscopilot.store.backend import Connection, DatabaseError
from opscopilot.store.batch_claims import _ITEM_COLUMNS, ClaimsMixin, Item, Worker, _item
from opscopilot.store.db import migrate, open_database
from opscopilot.store.errors import StoreError, from_exception

TRACK = "batch"


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


def _v3(db: Any) -> None:
    # Fan-out: runs by name, leases on claimed tickets, the run's spend shared by workers.
    for column in (
        "name TEXT",
        "tickets_digest TEXT",
        "settled INTEGER NOT NULL DEFAULT 0",
        "settled_usd REAL NOT NULL DEFAULT 0",
        "reserved_usd REAL NOT NULL DEFAULT 0",
        "completed_at REAL",
        "completed_by TEXT",
    ):
        db.execute(f"ALTER TABLE batch_runs ADD COLUMN {column}")
    for column in (
        "worker TEXT",
        "worker_host TEXT",
        "worker_pid INTEGER",
        "lease_until REAL",
        "claims INTEGER NOT NULL DEFAULT 0",
        "reservation REAL",
        "spent_usd REAL",
        "finished_by TEXT",
    ):
        db.execute(f"ALTER TABLE batch_items ADD COLUMN {column}")
    db.execute("CREATE INDEX batch_items_status ON batch_items (run_id, status, ordinal)")
    db.execute(
        "UPDATE batch_runs SET settled = (SELECT COUNT(*) FROM batch_items WHERE "
        "batch_items.run_id = batch_runs.id AND status IN ('done', 'paused'))"
    )


MIGRATIONS = [_v1, _v2, _v3]


@dataclass(frozen=True)
class Totals:
    settled_usd: float  # ledger spend of every settled ticket
    reserved_usd: float  # what the tickets running now may still spend


class RunMismatch(StoreError):
    """`--run NAME` names a run that was started with other tickets."""


def run_key(tickets_path: Path, report_path: Path) -> str:
    text = f"{tickets_path.resolve()}\n{report_path.resolve()}"
    return "b-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def named_run_key(name: str) -> str:
    """The run id of `--run NAME`: the same on every host."""
    return "b-" + hashlib.sha256(f"run:{name}".encode()).hexdigest()[:12]


def tickets_digest(ticket_ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ticket_ids).encode()).hexdigest()[:16]


STATE_CACHE_KIB = 64  # SQLite page cache of a run's state connection


class BatchState(ClaimsMixin):
    """Progress of one run, durable on every call (several workers share it)."""

    def __init__(self, db_path: Any, run_id: str, worker: Worker | None = None) -> None:
        """`db_path`: the SQLite file, a store URL or location, or None (the configured store)."""
        self._conn = open_database(db_path)
        migrate(self._conn, TRACK, MIGRATIONS)
        if self._conn.dialect == "sqlite":
            # The run's report is read whole every few seconds, and every other connection's
            # commit empties a WAL reader's page cache: with SQLite's default (2 MB) each read
            # allocated the table's pages afresh, a burst as big as the run that left that
            # much free memory in the C heap of whichever thread read. A few pages, recycled,
            # serve these reads as fast (a point read walks 3-4 of them).
            self._conn.execute(f"PRAGMA cache_size = -{STATE_CACHE_KIB}")
        self._lock = threading.Lock()
        self.run_id = run_id
        self.worker = worker or Worker(f"w-{os.urandom(6).hex()}")

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Connection]:
        with self._lock:
            try:
                self._conn.begin()
                yield self._conn
                self._conn.commit()
            except BaseException as exc:
                try:
                    self._conn.rollback()
                except DatabaseError:
                    pass
                if isinstance(exc, DatabaseError):
                    raise from_exception(exc, doing) from None
                raise

    def _read(self, sql: str, params: list[Any]) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except DatabaseError as exc:
                raise from_exception(exc, "cannot read the batch run") from None

    # --- the run -------------------------------------------------------------------

    def open_run(
        self,
        tickets_path: Path,
        report_path: Path,
        options: dict[str, Any],
        ticket_ids: list[str],
        now: float,
        *,
        name: str | None = None,
    ) -> bool:
        """Create the run (True) or find it (False); new ticket ids are added either way.

        A named run is joined only with the same tickets (RunMismatch otherwise)."""
        digest = tickets_digest(ticket_ids)
        with self._transaction(f"cannot open batch run {name or self.run_id}") as conn:
            conn.lock(f"opscopilot-batch-run:{self.run_id}")  # workers starting at once
            existing = conn.execute(
                "SELECT name, tickets_digest FROM batch_runs WHERE id = ?", [self.run_id]
            ).fetchone()
            if existing is None:
                conn.execute(
                    "INSERT INTO batch_runs (id, tickets_path, report_path, options, created_at, "
                    "name, tickets_digest) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        self.run_id,
                        str(tickets_path.resolve()),
                        str(report_path.resolve()),
                        json.dumps(options, sort_keys=True),
                        now,
                        name,
                        digest,
                    ],
                )
            elif name is not None and existing[1] not in (None, digest):
                raise RunMismatch(
                    "conflict",
                    f"batch run {name!r} was started with other tickets than {tickets_path}; "
                    "give this backlog a run name of its own",
                )
            else:
                conn.execute(
                    "UPDATE batch_runs SET tickets_digest = ?, completed_at = NULL, "
                    "completed_by = NULL WHERE id = ?",
                    [digest, self.run_id],
                )
            conn.executemany(
                "INSERT INTO batch_items (run_id, ticket_id, ordinal, status) "
                "VALUES (?, ?, ?, 'pending') "
                "ON CONFLICT (run_id, ticket_id) DO UPDATE SET ordinal = excluded.ordinal",
                [(self.run_id, ticket_id, n) for n, ticket_id in enumerate(ticket_ids)],
            )
        return existing is None

    def run_info(self) -> dict[str, Any] | None:
        """The run's row (paths, options, name, totals, who completed it), or None."""
        rows = self._read(
            "SELECT id, tickets_path, report_path, options, created_at, name, settled_usd, "
            "reserved_usd, completed_at, completed_by FROM batch_runs WHERE id = ?",
            [self.run_id],
        )
        if not rows:
            return None
        info = dict(zip(rows[0].keys(), rows[0], strict=True))
        info["options"] = json.loads(info["options"])
        return info

    def totals(self) -> Totals:
        rows = self._read(
            "SELECT settled_usd, reserved_usd FROM batch_runs WHERE id = ?", [self.run_id]
        )
        return Totals(float(rows[0][0] or 0.0), float(rows[0][1] or 0.0)) if rows else Totals(0, 0)

    # --- reading ---------------------------------------------------------------------

    def _pages(self, columns: str, where: str, size: int = 500) -> Iterator[tuple[Any, ...]]:
        """Rows of this run in ticket order, a page at a time (keyset paging: no cursor is
        held open between pages, so writers are never blocked by a long read)."""
        last: tuple[int, str] = (-1, "")
        while True:
            page = self._read(
                f"SELECT ordinal, ticket_id, {columns} FROM batch_items WHERE run_id = ? "
                "AND (ordinal > ? OR (ordinal = ? AND ticket_id > ?)) "
                f"AND {where} ORDER BY ordinal, ticket_id LIMIT ?",
                [self.run_id, last[0], last[0], last[1], size],
            )
            yield from (tuple(row)[2:] for row in page)
            if len(page) < size:
                return
            last = (page[-1][0], page[-1][1])

    def paused(self, page_size: int = 500) -> Iterator[list[Item]]:
        """The paused tickets with their outcomes, in ticket order, a page at a time."""
        return self._item_pages("status = 'paused'", page_size)

    def work(self, page_size: int = 500) -> Iterator[list[Item]]:
        """The tickets not done yet, in ticket order, a page at a time (outcomes of paused
        ones included): call `next` on it from a worker thread."""
        return self._item_pages("status != 'done'", page_size)

    def _item_pages(self, where: str, page_size: int) -> Iterator[list[Item]]:
        page: list[Item] = []
        for r in self._pages(_ITEM_COLUMNS, where, page_size):
            page.append(_item(r))
            if len(page) == page_size:
                yield page
                page = []
        if page:
            yield page

    def outcomes(self, page_size: int = 50) -> Iterator[dict[str, Any]]:
        """Every report line written so far, in ticket order. Small pages: the summary reads
        the run every few seconds from whichever worker thread is free, and glibc keeps what
        each thread freed in that thread's arena, so a page of 500 ~1 KB outcomes left ~0.5 MB
        of free space per arena (benchmarks/README.md, batch RSS per ticket)."""
        for (outcome,) in self._pages("outcome", "outcome IS NOT NULL", page_size):
            yield json.loads(outcome)

    def sessions(self) -> Iterator[str]:
        """The session of every ticket that started."""
        for (session_id,) in self._pages("session_id", "session_id IS NOT NULL"):
            yield session_id

    def items(self) -> list[Item]:
        """Every ticket of the run (tests and small tools; the runner streams `work`)."""
        rows = self._read(
            f"SELECT {_ITEM_COLUMNS}, finished_at FROM batch_items WHERE run_id = ? "
            "ORDER BY ordinal",
            [self.run_id],
        )
        items = [_item(r) for r in rows]
        for item, row in zip(items, rows, strict=True):
            item.finished_at = row[5]
        return items

    def workers(self) -> dict[str, str | None]:
        """Which worker recorded each ticket's outcome (None: not finished), by ticket id."""
        rows = self._read(
            "SELECT ticket_id, finished_by FROM batch_items WHERE run_id = ?", [self.run_id]
        )
        return {row[0]: row[1] for row in rows}
