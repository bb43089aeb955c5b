"""The usage ledger: one row per model call, its tokens and cost, in the shared SQLite file.

A call's row is written while it streams (an estimate, `estimated = 1`) and reconciled with
the provider's figure when that arrives (`estimated = 0`); a late estimate never overwrites a
final figure. Each row carries the UTC day it started on, so the day's spend survives
restarts and every process sees the same total. The caps stored by `opscopilot budget set`
live here too (table `budget_caps`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from opscopilot.governance.errors import GovernanceError
from opscopilot.llm.types import Usage
from opscopilot.store.backend import Connection, DatabaseError
from opscopilot.store.db import StoreError, migrate, open_database

if TYPE_CHECKING:
    from opscopilot.store.location import StoreLocation

Scope = Literal["call", "turn", "session", "day"]
Verdict = TypeVar("Verdict")
SCOPES: tuple[Scope, ...] = ("call", "turn", "session", "day")
TRACK = "ledger"


def _create_tables(db: Connection) -> None:
    db.execute(
        """
        CREATE TABLE ledger_calls (
            call_id TEXT PRIMARY KEY,
            session_id TEXT,
            turn_id TEXT,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            day TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            estimated INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX ledger_calls_day ON ledger_calls (day)")
    db.execute("CREATE INDEX ledger_calls_session ON ledger_calls (session_id)")
    db.execute("CREATE INDEX ledger_calls_turn ON ledger_calls (turn_id)")
    db.execute(
        """
        CREATE TABLE budget_caps (
            scope TEXT PRIMARY KEY,
            value REAL NOT NULL,
            set_at REAL NOT NULL
        )
        """
    )


def _v2_reservations(db: Connection) -> None:
    # What a call may cost at most (its prompt and the output it is allowed), held against
    # every cap from the moment its preflight passes until its final figure is recorded.
    db.execute("ALTER TABLE ledger_calls ADD COLUMN reserved_usd REAL NOT NULL DEFAULT 0")


MIGRATIONS = [_create_tables, _v2_reservations]
# A call's weight against the caps: its final cost, or while it runs (estimated) the larger of
# its running estimate and what it reserved.
_HELD = (
    "CASE WHEN estimated = 1 THEN {greatest}(COALESCE(cost_usd, 0), reserved_usd) "
    "ELSE COALESCE(cost_usd, 0) END"
)
# Every reservation on the server is made under this lock, so two hosts' checks never both
# see the same headroom.
RESERVE_LOCK = "opscopilot-ledger-reserve"
_COLUMNS = (
    "call_id, session_id, turn_id, provider, model, day, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, estimated, "
    "created_at, updated_at"
)


def utc_day(ts: float) -> str:
    """The UTC calendar day of a timestamp, as stored per ledger row (YYYY-MM-DD)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Spent:
    """What was spent before a call, in each scope a cap can apply to (USD)."""

    turn: float = 0.0
    session: float = 0.0
    day: float = 0.0


@dataclass(frozen=True, slots=True)
class LedgerRow:
    call_id: str
    session_id: str | None
    turn_id: str | None
    provider: str
    model: str
    day: str
    usage: Usage
    cost_usd: float | None
    estimated: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class SpendGroup:
    """A total over a group of calls (a model, a session, …) for `budget show`."""

    key: str
    cost_usd: float
    calls: int
    input_tokens: int
    output_tokens: int
    unpriced_calls: int = 0  # calls of a model with no known price: their cost is unknown


_UPSERT = """
INSERT INTO ledger_calls (call_id, session_id, turn_id, provider, model, day, input_tokens,
    output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, estimated,
    created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(call_id) DO UPDATE SET
    input_tokens = excluded.input_tokens,
    output_tokens = excluded.output_tokens,
    cache_read_tokens = excluded.cache_read_tokens,
    cache_write_tokens = excluded.cache_write_tokens,
    reasoning_tokens = excluded.reasoning_tokens,
    cost_usd = excluded.cost_usd,
    estimated = excluded.estimated,
    updated_at = excluded.updated_at
WHERE ledger_calls.estimated = 1 OR excluded.estimated = 0
"""


class Ledger:
    """Every model call's usage and cost; safe to share between threads and processes."""

    def __init__(self, path: StoreLocation | Path | str | None = None) -> None:
        """The ledger in the store's database: a SQLite file, a store URL or location, or
        (None) the configured store."""
        self.path = path if path is not None else _configured()
        # Plain sqlite3 (through the connection layer), not sqlite-utils: the ledger is all
        # raw SQL, and `prompt` opens it before its request leaves. psycopg is imported only
        # when the store is on PostgreSQL.
        conn: Connection | None = None
        try:
            conn = open_database(self.path)
            migrate(conn, TRACK, MIGRATIONS)
        except (StoreError, DatabaseError) as exc:
            if conn is not None:
                conn.close()
            detail = exc if isinstance(exc, StoreError) else f"ledger {_shown(self.path)}: {exc}"
            raise GovernanceError("io", str(detail)) from None
        self._conn = conn
        # One connection is shared by the event loop and worker threads; sqlite3 objects
        # are not safe to use from two threads at the same moment.
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------

    def record(
        self,
        call_id: str,
        *,
        session_id: str | None,
        turn_id: str | None,
        provider: str,
        model: str,
        usage: Usage,
        cost_usd: float | None,
        estimated: bool,
        ts: float | None = None,
    ) -> None:
        """Upsert a call's usage: an estimate while streaming, then the final figure."""
        now = time.time() if ts is None else ts
        params = [
            call_id,
            session_id,
            turn_id,
            provider,
            model,
            utc_day(now),
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
            cost_usd,
            int(estimated),
            now,
            now,
        ]
        self._write(_UPSERT, params)

    def set_cap(self, scope: str, value: float, *, ts: float | None = None) -> None:
        """Store a cap set by `opscopilot budget set` (scope: call, turn, session, day, warn)."""
        self._write(
            "INSERT INTO budget_caps (scope, value, set_at) VALUES (?, ?, ?) "
            "ON CONFLICT(scope) DO UPDATE SET value = excluded.value, set_at = excluded.set_at",
            [scope, float(value), time.time() if ts is None else ts],
        )

    def clear_cap(self, scope: str | None = None) -> None:
        """Forget one stored cap, or all of them when `scope` is None."""
        if scope is None:
            self._write("DELETE FROM budget_caps", [])
        else:
            self._write("DELETE FROM budget_caps WHERE scope = ?", [scope])

    def _write(self, sql: str, params: list[object]) -> None:
        with self._lock:
            try:
                self._conn.execute(sql, params)
            except DatabaseError as exc:
                raise GovernanceError("io", f"ledger write failed: {exc}") from None

    # --- reading -------------------------------------------------------------------------

    def _one(self, sql: str, params: list[object]) -> tuple[object, ...] | None:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchone()
            except DatabaseError as exc:
                raise GovernanceError("io", f"ledger read failed: {exc}") from None

    def _all(self, sql: str, params: list[object]) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except DatabaseError as exc:
                raise GovernanceError("io", f"ledger read failed: {exc}") from None

    def stored_caps(self) -> dict[str, float]:
        return {
            str(scope): float(value)
            for scope, value in self._all("SELECT scope, value FROM budget_caps", [])  # type: ignore[arg-type]
        }

    def spent(self, scope: Scope, key: str, *, exclude_call: str | None = None) -> float:
        """USD spent in one scope: a call id, a turn id, a session id, or a day (YYYY-MM-DD).

        `exclude_call` leaves one call out (a running call asking what the others spent).
        """
        column = {"call": "call_id", "turn": "turn_id", "session": "session_id", "day": "day"}
        if scope not in column:
            raise GovernanceError("bad_request", f"unknown spend scope {scope!r}")
        held = _HELD.format(greatest=self._conn.greatest)
        row = self._one(
            f"SELECT COALESCE(SUM({held}), 0) FROM ledger_calls WHERE {column[scope]} = ? "
            "AND call_id != ?",
            [key, exclude_call or ""],
        )
        return float(row[0]) if row else 0.0  # type: ignore[arg-type]

    def spent_today(self, now: float | None = None) -> float:
        return self.spent("day", utc_day(time.time() if now is None else now))

    def spent_before(
        self,
        *,
        session_id: str | None,
        turn_id: str | None,
        now: float | None = None,
        exclude_call: str | None = None,
    ) -> Spent:
        """The spend a call adds to, in each scope it belongs to (without `exclude_call`)."""
        day = utc_day(time.time() if now is None else now)
        return Spent(
            turn=self.spent("turn", turn_id, exclude_call=exclude_call) if turn_id else 0.0,
            session=(
                self.spent("session", session_id, exclude_call=exclude_call) if session_id else 0.0
            ),
            day=self.spent("day", day, exclude_call=exclude_call),
        )

    def reserve(
        self,
        call_id: str,
        judge: Callable[[Spent], tuple[Verdict, float]],
        *,
        session_id: str | None,
        turn_id: str | None,
        provider: str,
        model: str,
        ts: float | None = None,
    ) -> tuple[Verdict, Spent]:
        """Check a call against the caps and hold its cost, atomically across every process.

        Under one lock (the server's advisory lock on PostgreSQL, the write lock on SQLite),
        `judge(spent)` is handed what the turn, session and day hold (spent plus the
        reservations of calls still running) and returns its verdict and the amount to hold
        (0: nothing, the call does not run). A held amount counts against every cap until
        the call's final figure is recorded, so racing hosts cannot all spend the last dollar.
        """
        now = time.time() if ts is None else ts
        with self._lock:
            try:
                self._conn.begin()
                try:
                    self._conn.lock(RESERVE_LOCK)
                    spent = self._spent_before_unlocked(session_id, turn_id, now)
                    verdict, amount = judge(spent)
                    if amount > 0:
                        self._conn.execute(
                            f"INSERT INTO ledger_calls ({_COLUMNS}, reserved_usd) "
                            "VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 1, ?, ?, ?) "
                            "ON CONFLICT (call_id) DO UPDATE SET reserved_usd = excluded.reserved_usd",
                            [call_id, session_id, turn_id, provider, model, utc_day(now),
                             now, now, float(amount)],
                        )  # fmt: skip
                    self._conn.commit()
                except BaseException:
                    self._conn.rollback()
                    raise
            except DatabaseError as exc:
                raise GovernanceError("io", f"ledger reservation failed: {exc}") from None
        return verdict, spent

    def release(self, call_id: str) -> None:
        """A call has ended: its recorded figure counts from now on, not its reservation (a
        call that recorded nothing leaves no row)."""
        with self._lock:
            try:
                self._conn.execute(
                    "DELETE FROM ledger_calls WHERE call_id = ? AND estimated = 1 "
                    "AND input_tokens = 0 AND output_tokens = 0 AND COALESCE(cost_usd, 0) = 0",
                    [call_id],
                )
                self._conn.execute(
                    "UPDATE ledger_calls SET reserved_usd = 0 WHERE call_id = ?", [call_id]
                )
            except DatabaseError as exc:
                raise GovernanceError("io", f"ledger write failed: {exc}") from None

    def _spent_before_unlocked(
        self, session_id: str | None, turn_id: str | None, now: float
    ) -> Spent:
        held = _HELD.format(greatest=self._conn.greatest)

        def total(column: str, key: str) -> float:
            row = self._conn.execute(
                f"SELECT COALESCE(SUM({held}), 0) FROM ledger_calls WHERE {column} = ?", [key]
            ).fetchone()
            return float(row[0])

        return Spent(
            turn=total("turn_id", turn_id) if turn_id else 0.0,
            session=total("session_id", session_id) if session_id else 0.0,
            day=total("day", utc_day(now)),
        )

    def get(self, call_id: str) -> LedgerRow | None:
        row = self._one(f"SELECT {_COLUMNS} FROM ledger_calls WHERE call_id = ?", [call_id])
        return None if row is None else _to_row(row)

    def calls(self, *, day: str | None = None, session_id: str | None = None) -> list[LedgerRow]:
        where, params = _filters(day=day, session_id=session_id)
        rows = self._all(f"SELECT {_COLUMNS} FROM ledger_calls {where} ORDER BY created_at", params)
        return [_to_row(row) for row in rows]

    def totals_by(
        self,
        group: Literal["model", "provider", "session", "turn", "day"],
        *,
        day: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
    ) -> list[SpendGroup]:
        """Spend grouped by model (`provider:model`), provider, session, turn or day, largest first."""
        expression = {
            "model": "provider || ':' || model",
            "provider": "provider",
            "session": "COALESCE(session_id, '')",
            "turn": "COALESCE(turn_id, '')",
            "day": "day",
        }[group]
        where, params = _filters(day=day, session_id=session_id)
        rows = self._all(
            f"SELECT {expression} AS key, COALESCE(SUM(cost_usd), 0), COUNT(*), "
            f"SUM(input_tokens), SUM(output_tokens), "
            f"SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) FROM ledger_calls {where} "
            "GROUP BY key ORDER BY 2 DESC, key LIMIT ?",
            [*params, limit],
        )
        return [
            SpendGroup(str(k), float(c), int(n), int(i or 0), int(o or 0), int(u or 0))  # type: ignore[arg-type]
            for k, c, n, i, o, u in rows
        ]

    def spend_by_session(self, *, since: float = 0.0) -> list[dict[str, object]]:
        """Spend per session of the calls made since `since` (the audit's spend records)."""
        rows = self._all(
            "SELECT COALESCE(session_id, ''), COALESCE(SUM(cost_usd), 0), COUNT(*), "
            "MAX(updated_at) FROM ledger_calls WHERE created_at >= ? "
            "GROUP BY COALESCE(session_id, '') ORDER BY 1",
            [since],
        )
        return _spend_rows(rows)


def _spend_rows(rows: list[tuple[object, ...]]) -> list[dict[str, object]]:
    return [
        {"session_id": key, "cost_usd": float(cost), "calls": int(calls), "last_at": float(last)}  # type: ignore[arg-type]
        for key, cost, calls, last in rows
    ]


def _configured() -> Path | StoreLocation:
    from opscopilot.store.location import LocationError, configured

    try:
        location = configured()
    except LocationError as exc:
        raise GovernanceError("io", str(exc)) from None
    return location.path if location.path is not None else location


def _shown(path: object) -> str:
    display = getattr(path, "display", None)
    return display() if callable(display) else str(path)


def _filters(*, day: str | None, session_id: str | None) -> tuple[str, list[object]]:
    clauses, params = [], []
    if day is not None:
        clauses.append("day = ?")
        params.append(day)
    if session_id is not None:
        clauses.append("session_id = ?")
        params.append(session_id)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _to_row(row: tuple[object, ...]) -> LedgerRow:
    (
        call_id,
        session_id,
        turn_id,
        provider,
        model,
        day,
        input_tokens,
        output_tokens,
        cache_read,
        cache_write,
        reasoning,
        cost_usd,
        estimated,
        created_at,
        updated_at,
    ) = row
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
    )
    return LedgerRow(
        call_id=str(call_id),
        session_id=session_id,
        turn_id=turn_id,  # type: ignore[arg-type]
        provider=str(provider),
        model=str(model),
        day=str(day),
        usage=usage,
        cost_usd=None if cost_usd is None else float(cost_usd),  # type: ignore[arg-type]
        estimated=bool(estimated),
        created_at=float(created_at),  # type: ignore[arg-type]
        updated_at=float(updated_at),  # type: ignore[arg-type]
    )
