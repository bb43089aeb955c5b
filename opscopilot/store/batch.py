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
whose worker was on this host and its process is gone; on PostgreSQL with `FOR UPDATE SKIP
LOCKED`, so workers never wait on each other's claims; on SQLite under the write lock
(`BEGIN IMMEDIATE`). Leases are judged by the database server's clock, not the hosts'.
Only the worker holding a ticket's lease may record its outcome (a worker presumed dead that
wakes up again is told so, and its late outcome is dropped), so each ticket is reported once.

The run's spend for `--max-cost` is kept on its row (spent by settled tickets, reserved by
running ones) and claims are admitted against it in the same transaction, so the run's cap
holds across every worker. Reads stream rows (`work`, `outcomes`) so a run's memory does not
grow with its size.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opscopilot.store.backend import Connection, DatabaseError
from opscopilot.store.db import migrate, open_database
from opscopilot.store.errors import StoreError, from_exception

TRACK = "batch"
LEASE_S = 15.0  # a worker silent this long is presumed gone; its tickets go to the others
_EPSILON = 1e-9


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


@dataclass
class Item:
    ticket_id: str
    ordinal: int
    status: str  # pending | running | paused | done
    session_id: str | None
    outcome: dict[str, Any] | None
    reservation: float | None = None  # what it may spend while claimed (None: unbounded)
    takeover: bool = False  # claimed from a worker presumed dead
    skip: bool = False  # claimed, but the run's cap is spent: record it skipped
    finished_at: float | None = None  # when its outcome was recorded (`items` only)


@dataclass(frozen=True)
class Worker:
    """Who claims tickets: one per `opscopilot batch` process."""

    worker_id: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


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


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _item(row: Any) -> Item:
    return Item(row[0], row[1], row[2], row[3], json.loads(row[4]) if row[4] else None)


_ITEM_COLUMNS = "ticket_id, ordinal, status, session_id, outcome"


class BatchState:
    """Progress of one run, durable on every call (several workers share it)."""

    def __init__(self, db_path: Any, run_id: str, worker: Worker | None = None) -> None:
        """`db_path`: the SQLite file, a store URL or location, or None (the configured store)."""
        self._conn = open_database(db_path)
        migrate(self._conn, TRACK, MIGRATIONS)
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

    def _now(self, conn: Connection) -> float:
        """The database server's clock: every host judges leases by the same one."""
        return float(conn.execute(f"SELECT {conn.now_sql}").fetchone()[0])

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

    # --- claims and leases -----------------------------------------------------------

    def claim(
        self,
        lease_s: float = LEASE_S,
        *,
        reservation: float | None = None,
        run_cap: float | None = None,
    ) -> Item | str | None:
        """The next ticket for this worker, claimed under a lease: a pending one in ticket
        order, or a running one whose worker is presumed dead (its session kept, so its turn
        resumes). "wait" when the run's cap cannot admit it while others run, None when no
        ticket is free now. An item with `skip` set was refused by the cap with nothing
        running anywhere: record it skipped."""
        with self._transaction("cannot claim a batch ticket") as conn:
            now = self._now(conn)
            row, takeover = self._free_row(conn, now)
            if row is None:
                return None
            item = _item(row)
            item.takeover = takeover
            settled, reserved = conn.execute(
                f"SELECT settled_usd, reserved_usd FROM batch_runs WHERE id = ?{conn.for_update}",
                [self.run_id],
            ).fetchone()
            if takeover:
                # Its reservation is still counted; the new worker inherits it.
                item.reservation = row[5]
            else:
                admitted = _admit(run_cap, reservation, float(settled), float(reserved))
                if admitted == "wait":
                    return "wait"
                if admitted == "skip":
                    item.skip, admitted = True, None
                item.reservation = admitted  # type: ignore[assignment]
                if admitted is not None:
                    conn.execute(
                        "UPDATE batch_runs SET reserved_usd = reserved_usd + ? WHERE id = ?",
                        [admitted, self.run_id],
                    )
            self._hold(conn, item, now, lease_s)
            return item

    def _free_row(self, conn: Connection, now: float) -> tuple[Any, bool]:
        """The first claimable row (locked), and whether it is taken over from a worker."""
        stale = conn.execute(
            "SELECT ticket_id, worker, worker_host, worker_pid, lease_until FROM batch_items "
            "WHERE run_id = ? AND status = 'running' "
            "AND (lease_until IS NULL OR lease_until < ? OR worker_host = ?) "
            "ORDER BY ordinal",
            [self.run_id, now, self.worker.host],
        ).fetchall()
        for ticket_id, worker, host, pid, lease_until in stale:
            expired = lease_until is None or lease_until < now
            if not expired and not (host == self.worker.host and pid and _pid_gone(pid)):
                continue
            # Lock that row alone, if nobody claimed it meanwhile.
            row = conn.execute(
                f"SELECT {_ITEM_COLUMNS}, reservation FROM batch_items WHERE run_id = ? "
                "AND ticket_id = ? AND status = 'running' AND worker IS NOT DISTINCT FROM ? "
                f"AND lease_until IS NOT DISTINCT FROM ?{conn.skip_locked}",
                [self.run_id, ticket_id, worker, lease_until],
            ).fetchone()
            if row is not None:
                return row, True
        row = conn.execute(
            f"SELECT {_ITEM_COLUMNS}, reservation FROM batch_items "
            "WHERE run_id = ? AND status = 'pending' ORDER BY ordinal LIMIT 1"
            f"{conn.skip_locked}",
            [self.run_id],
        ).fetchone()
        return row, False

    def _hold(self, conn: Connection, item: Item, now: float, lease_s: float) -> None:
        conn.execute(
            "UPDATE batch_items SET status = 'running', worker = ?, worker_host = ?, "
            "worker_pid = ?, lease_until = ?, claims = claims + 1, reservation = ? "
            "WHERE run_id = ? AND ticket_id = ?",
            [
                self.worker.worker_id,
                self.worker.host,
                self.worker.pid,
                now + lease_s,
                item.reservation,
                self.run_id,
                item.ticket_id,
            ],
        )

    def claim_paused(
        self,
        ticket_id: str,
        lease_s: float = LEASE_S,
        *,
        reservation: float | None = None,
        run_cap: float | None = None,
    ) -> Item | str | None:
        """Claim a paused ticket whose approvals are decided, to continue it; None when
        another worker got there first, "wait" when the run's cap cannot admit it now."""
        with self._transaction(f"cannot claim batch ticket {ticket_id}") as conn:
            row = conn.execute(
                f"SELECT {_ITEM_COLUMNS}, spent_usd FROM batch_items WHERE run_id = ? "
                f"AND ticket_id = ? AND status = 'paused'{conn.for_update}",
                [self.run_id, ticket_id],
            ).fetchone()
            if row is None:
                return None
            item = _item(row)
            spent = float(row[5] or 0.0)
            settled, reserved = conn.execute(
                f"SELECT settled_usd, reserved_usd FROM batch_runs WHERE id = ?{conn.for_update}",
                [self.run_id],
            ).fetchone()
            # While it runs it counts by its reservation, no longer by what it spent.
            admitted = _admit(run_cap, reservation, float(settled) - spent, float(reserved))
            if admitted == "wait":
                return "wait"
            if admitted == "skip":
                item.skip, admitted = True, 0.0
            item.reservation = admitted  # type: ignore[assignment]
            conn.execute(
                "UPDATE batch_runs SET settled = settled - 1, settled_usd = settled_usd - ?, "
                "reserved_usd = reserved_usd + ? WHERE id = ?",
                [spent, admitted or 0.0, self.run_id],
            )
            conn.execute(
                "UPDATE batch_items SET spent_usd = 0 WHERE run_id = ? AND ticket_id = ?",
                [self.run_id, ticket_id],
            )
            self._hold(conn, item, self._now(conn), lease_s)
            return item

    def renew(self, lease_s: float = LEASE_S) -> set[str]:
        """Renew this worker's leases; the tickets it still holds (others were taken over)."""
        with self._transaction("cannot renew batch leases") as conn:
            now = self._now(conn)
            conn.execute(
                "UPDATE batch_items SET lease_until = ? "
                "WHERE run_id = ? AND worker = ? AND status = 'running'",
                [now + lease_s, self.run_id, self.worker.worker_id],
            )
            rows = conn.execute(
                "SELECT ticket_id FROM batch_items "
                "WHERE run_id = ? AND worker = ? AND status = 'running'",
                [self.run_id, self.worker.worker_id],
            ).fetchall()
        return {row[0] for row in rows}

    def started(self, ticket_id: str, session_id: str) -> None:
        """Write down the session a claimed ticket's turn will run in, before it starts."""
        with self._transaction(f"cannot start batch ticket {ticket_id}") as conn:
            conn.execute(
                "UPDATE batch_items SET session_id = ? WHERE run_id = ? AND ticket_id = ? "
                "AND worker = ?",
                [session_id, self.run_id, ticket_id, self.worker.worker_id],
            )

    def finished(
        self, ticket_id: str, outcome: dict[str, Any], now: float, spent_usd: float = 0.0
    ) -> int | None:
        """Record a claimed ticket's report line (`paused` when its turn waits for approval,
        else `done`) and what its session spent; how many tickets of the run are settled now,
        or None when this worker no longer holds it (it was taken over: the other worker
        reports it). When it was the run's last open ticket, this worker is recorded as the
        one that completed the run."""
        status = "paused" if outcome.get("status") == "awaiting_approval" else "done"
        with self._transaction(f"cannot record batch ticket {ticket_id}") as conn:
            row = conn.execute(
                f"SELECT reservation FROM batch_items WHERE run_id = ? AND ticket_id = ? "
                f"AND worker = ? AND status = 'running'{conn.for_update}",
                [self.run_id, ticket_id, self.worker.worker_id],
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE batch_items SET status = ?, outcome = ?, finished_at = ?, "
                "lease_until = NULL, spent_usd = ?, reservation = NULL, finished_by = ? "
                "WHERE run_id = ? AND ticket_id = ?",
                [
                    status,
                    json.dumps(outcome, sort_keys=True),
                    now,
                    spent_usd,
                    self.worker.worker_id,
                    self.run_id,
                    ticket_id,
                ],
            )
            (settled,) = conn.execute(
                "UPDATE batch_runs SET settled = settled + 1, settled_usd = settled_usd + ?, "
                f"reserved_usd = {conn.greatest}(reserved_usd - ?, 0) WHERE id = ? "
                "RETURNING settled",
                [spent_usd, row[0] or 0.0, self.run_id],
            ).fetchone()
            if not self._open_rows(conn):
                conn.execute(
                    "UPDATE batch_runs SET completed_at = ?, completed_by = ? "
                    "WHERE id = ? AND completed_at IS NULL",
                    [now, self.worker.worker_id, self.run_id],
                )
        return int(settled)

    def forget(self, ticket_id: str) -> bool:
        """Drop a claimed ticket that the run's tickets file no longer holds (its session, if
        it started, stays in the store)."""
        with self._transaction(f"cannot drop batch ticket {ticket_id}") as conn:
            row = conn.execute(
                f"SELECT reservation FROM batch_items WHERE run_id = ? AND ticket_id = ? "
                f"AND worker = ? AND status = 'running'{conn.for_update}",
                [self.run_id, ticket_id, self.worker.worker_id],
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "DELETE FROM batch_items WHERE run_id = ? AND ticket_id = ?",
                [self.run_id, ticket_id],
            )
            conn.execute(
                f"UPDATE batch_runs SET reserved_usd = {conn.greatest}(reserved_usd - ?, 0) "
                "WHERE id = ?",
                [row[0] or 0.0, self.run_id],
            )
        return True

    def _open_rows(self, conn: Connection) -> bool:
        return (
            conn.execute(
                "SELECT 1 FROM batch_items WHERE run_id = ? AND status IN ('pending', 'running') "
                "LIMIT 1",
                [self.run_id],
            ).fetchone()
            is not None
        )

    def open_elsewhere(self) -> int:
        """How many tickets other workers hold now (0 with pending ones: claim them)."""
        rows = self._read(
            "SELECT COUNT(*) FROM batch_items WHERE run_id = ? AND status = 'running' "
            "AND (worker IS NULL OR worker != ?)",
            [self.run_id, self.worker.worker_id],
        )
        return int(rows[0][0])

    def open_count(self) -> int:
        """Tickets not settled yet: pending, or being worked."""
        rows = self._read(
            "SELECT COUNT(*) FROM batch_items WHERE run_id = ? AND status IN ('pending', 'running')",
            [self.run_id],
        )
        return int(rows[0][0])

    def completed_by(self) -> str | None:
        rows = self._read("SELECT completed_by FROM batch_runs WHERE id = ?", [self.run_id])
        return rows[0][0] if rows else None

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
        page: list[Item] = []
        for r in self._pages(_ITEM_COLUMNS, "status = 'paused'", page_size):
            page.append(_item(r))
            if len(page) == page_size:
                yield page
                page = []
        if page:
            yield page

    def work(self, page_size: int = 500) -> Iterator[list[Item]]:
        """The tickets not done yet, in ticket order, a page at a time (outcomes of paused
        ones included): call `next` on it from a worker thread."""
        page: list[Item] = []
        for r in self._pages(_ITEM_COLUMNS, "status != 'done'", page_size):
            page.append(_item(r))
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


def _admit(
    run_cap: float | None, reservation: float | None, settled: float, reserved: float
) -> float | str | None:
    """What a ticket may spend if it starts now ("wait": not until running ones settle).

    It starts when the run's remaining budget covers its reservation; when it doesn't, it
    waits for the tickets running anywhere; with none running, it gets what is left
    ("skip" once nothing is)."""
    if run_cap is None:
        return reservation
    remaining = run_cap - settled - reserved
    if reservation is not None and remaining + _EPSILON >= reservation:
        return reservation
    if reserved > _EPSILON:
        return "wait"
    return remaining if remaining > _EPSILON else "skip"
