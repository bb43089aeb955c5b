"""Claims and leases on a batch run's tickets: the part of `BatchState` that workers share.

See opscopilot/store/batch.py for the rules; this is how they are kept, one transaction per
claim, renewal or outcome (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: `BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from opscopilot.store.backend import Connection
from opscopilot.store.pidspace import pid_space

LEASE_S = 15.0  # a worker silent this long is presumed gone; its tickets go to the others
_EPSILON = 1e-9


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
    host: str = field(default_factory=pid_space)  # stored as worker_host
    pid: int = field(default_factory=os.getpid)


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


class ClaimsMixin:
    """Claiming, renewing and settling tickets (BatchState supplies the connection)."""

    run_id: str
    worker: Worker

    def _transaction(self, doing: str) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _read(self, sql: str, params: list[Any]) -> list[Any]:
        raise NotImplementedError

    def _now(self, conn: Connection) -> float:
        """The database server's clock: every host judges leases by the same one."""
        return float(conn.execute(f"SELECT {conn.now_sql}").fetchone()[0])

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
            counted: float | None = None  # what the run's reservations hold for it
            if takeover:
                # Its reservation is still counted; the new worker inherits it.
                counted = row[5]
                item.reservation = counted if counted is not None else reservation
            elif run_cap is None:
                item.reservation = reservation  # no run cap: nothing to count it against
            else:
                settled, reserved = conn.execute(
                    "SELECT settled_usd, reserved_usd FROM batch_runs "
                    f"WHERE id = ?{conn.for_update}",
                    [self.run_id],
                ).fetchone()
                admitted = _admit(run_cap, reservation, float(settled), float(reserved))
                if admitted == "wait":
                    return "wait"
                if admitted == "skip":
                    item.skip, admitted = True, None
                item.reservation = counted = admitted  # type: ignore[assignment]
                if counted is not None:
                    conn.execute(
                        "UPDATE batch_runs SET reserved_usd = reserved_usd + ? WHERE id = ?",
                        [counted, self.run_id],
                    )
            self._hold(conn, item, now, lease_s, counted)
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

    def _hold(
        self, conn: Connection, item: Item, now: float, lease_s: float, counted: float | None
    ) -> None:
        conn.execute(
            "UPDATE batch_items SET status = 'running', worker = ?, worker_host = ?, "
            "worker_pid = ?, lease_until = ?, claims = claims + 1, reservation = ? "
            "WHERE run_id = ? AND ticket_id = ?",
            [
                self.worker.worker_id,
                self.worker.host,
                self.worker.pid,
                now + lease_s,
                counted,
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
            counted = admitted if run_cap is not None else None
            conn.execute(
                "UPDATE batch_runs SET settled = settled - 1, settled_usd = settled_usd - ?, "
                "reserved_usd = reserved_usd + ? WHERE id = ?",
                [spent, counted or 0.0, self.run_id],
            )
            conn.execute(
                "UPDATE batch_items SET spent_usd = 0 WHERE run_id = ? AND ticket_id = ?",
                [self.run_id, ticket_id],
            )
            self._hold(conn, item, self._now(conn), lease_s, counted)
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

    def started(self, ticket_id: str, session_id: str) -> bool:
        """Write down the session a claimed ticket's turn will run in, before it starts;
        False when this worker no longer holds the ticket (it must not start the turn)."""
        with self._transaction(f"cannot start batch ticket {ticket_id}") as conn:
            cursor = conn.execute(
                "UPDATE batch_items SET session_id = ? WHERE run_id = ? AND ticket_id = ? "
                "AND worker = ? AND status = 'running'",
                [session_id, self.run_id, ticket_id, self.worker.worker_id],
            )
            return cursor.rowcount == 1

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
            row = self._held(conn, ticket_id)
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

    def _held(self, conn: Connection, ticket_id: str) -> Any:
        """The ticket's row (its reservation), locked, while this worker still holds it."""
        return conn.execute(
            f"SELECT reservation FROM batch_items WHERE run_id = ? AND ticket_id = ? "
            f"AND worker = ? AND status = 'running'{conn.for_update}",
            [self.run_id, ticket_id, self.worker.worker_id],
        ).fetchone()

    def forget(self, ticket_id: str) -> bool:
        """Drop a claimed ticket that the run's tickets file no longer holds (its session, if
        it started, stays in the store)."""
        with self._transaction(f"cannot drop batch ticket {ticket_id}") as conn:
            row = self._held(conn, ticket_id)
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
