"""The usage ledger's tables and every statement that reads or writes them, on both backends.

- `ledger_calls`: one row per model call, its tokens, its cost (an estimate while it streams,
  `estimated = 1`, then the provider's figure) and what it reserved against the caps.
- `budget_caps`: the caps stored by `opscopilot budget set`.
- `ledger_totals`: what each UTC day and each session holds, kept by triggers on
  `ledger_calls` (so every writer, in any process, keeps it right), so a cap check reads a
  row or a few however many calls the day already made.

A call's weight against the caps ("held") is its final cost, or while it runs the larger of
its running estimate and its reservation. What the rows mean for a call (preflight,
reservations, caps) is decided in `opscopilot/governance/ledger.py`; this module only
stores them. It imports nothing heavy: `prompt` opens the ledger before its request leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from opscopilot.store.backend import Connection
from opscopilot.store.db import migrate, open_database

if TYPE_CHECKING:
    from pathlib import Path

    from opscopilot.store.location import StoreLocation

TRACK = "ledger"
# Tables rebuilt from others (by triggers): `store copy` leaves them to the destination.
DERIVED_TABLES = ("ledger_totals",)
# Every reservation on the server is made under this lock, so two hosts' checks never both
# see the same headroom.
RESERVE_LOCK = "opscopilot-ledger-reserve"

TotalScope = Literal["day", "session"]
Group = Literal["model", "provider", "session", "turn", "day"]


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


def held_sql(greatest: str, row: str = "") -> str:
    """SQL for what one call holds against the caps (`row`: "NEW." or "OLD." in a trigger)."""
    return (
        f"(CASE WHEN {row}estimated = 1 THEN {greatest}(COALESCE({row}cost_usd, 0), "
        f"{row}reserved_usd) ELSE COALESCE({row}cost_usd, 0) END)"
    )


_TOTALS = (("day", "day"), ("session", "session_id"))
# On PostgreSQL a total is kept in PARTS rows, picked by the call id's last character, so
# hosts writing at once do not all queue on one row's lock; a read sums its few rows.
# SQLite has one writer at a time anyway: one row.
PARTS = 8


def _part(dialect: str, row: str) -> str:
    if dialect == "postgresql":
        return f"(ascii(right({row}call_id, 1)) % {PARTS})"
    return "0"


def _follow(db: Connection, row: str, sign: str) -> list[str]:
    """The statements that add (sign "") or take away (sign "-") one row's weight to the
    totals of its day and its session (a call without a session has only a day)."""
    return [
        f"INSERT INTO ledger_totals (scope, id, part, held_usd) SELECT '{scope}', "
        f"{row}{column}, {_part(db.dialect, row)}, {sign}{held_sql(db.greatest, row)} "
        f"WHERE {row}{column} IS NOT NULL ON CONFLICT (scope, id, part) DO UPDATE SET "
        "held_usd = ledger_totals.held_usd + excluded.held_usd"
        for scope, column in _TOTALS
    ]


def _v3_running_totals(db: Connection) -> None:
    # Summing every call of the day on every preflight grew with the day (issue 11); the
    # triggers keep the sums instead, and the backfill starts them from what is there.
    db.execute(
        "CREATE TABLE ledger_totals (scope TEXT NOT NULL, id TEXT NOT NULL, "
        "part INTEGER NOT NULL DEFAULT 0, held_usd REAL NOT NULL DEFAULT 0, "
        "PRIMARY KEY (scope, id, part))"
    )
    held = held_sql(db.greatest)
    for scope, column in _TOTALS:
        db.execute(
            f"INSERT INTO ledger_totals (scope, id, part, held_usd) SELECT '{scope}', {column}, "
            f"0, SUM({held}) FROM ledger_calls WHERE {column} IS NOT NULL GROUP BY {column}"
        )
    old, new = _follow(db, "OLD.", "-"), _follow(db, "NEW.", "")
    if db.dialect == "postgresql":
        db.execute(
            "CREATE FUNCTION opscopilot_ledger_totals() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\nIF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
            + "".join(f"{statement};\n" for statement in old)
            + "END IF;\nIF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
            + "".join(f"{statement};\n" for statement in new)
            + "END IF;\nRETURN NULL;\nEND\n$$"
        )
        db.execute(
            "CREATE TRIGGER ledger_totals_follow AFTER INSERT OR UPDATE OR DELETE ON "
            "ledger_calls FOR EACH ROW EXECUTE FUNCTION opscopilot_ledger_totals()"
        )
        return
    for event, statements in (("INSERT", new), ("DELETE", old), ("UPDATE", old + new)):
        db.execute(
            f"CREATE TRIGGER ledger_totals_{event.lower()} AFTER {event} ON ledger_calls "
            f"BEGIN {'; '.join(statements)}; END"
        )


MIGRATIONS = [_create_tables, _v2_reservations, _v3_running_totals]

_COLUMNS = (
    "call_id, session_id, turn_id, provider, model, day, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, estimated, "
    "created_at, updated_at"
)
_UPSERT = f"""
INSERT INTO ledger_calls ({_COLUMNS})
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
_SCOPE_COLUMN = {"call": "call_id", "turn": "turn_id", "session": "session_id", "day": "day"}


@dataclass(frozen=True, slots=True)
class CallRow:
    """One `ledger_calls` row as stored (tokens as plain counts)."""

    call_id: str
    session_id: str | None
    turn_id: str | None
    provider: str
    model: str
    day: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
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


class Reservation:
    """Inside `LedgerStore.reserving()`: the server-wide reservation lock is held."""

    def __init__(self, tables: LedgerStore) -> None:
        self._tables = tables

    def held(self, scope: str, key: str) -> float:
        return self._tables._held(scope, key, None)

    def hold(
        self,
        call_id: str,
        *,
        session_id: str | None,
        turn_id: str | None,
        provider: str,
        model: str,
        day: str,
        ts: float,
        amount: float,
    ) -> None:
        """Write (or raise) the call's reservation; its row counts from this commit on."""
        self._tables._conn.execute(
            f"INSERT INTO ledger_calls ({_COLUMNS}, reserved_usd) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 1, ?, ?, ?) "
            "ON CONFLICT (call_id) DO UPDATE SET reserved_usd = excluded.reserved_usd",
            [call_id, session_id, turn_id, provider, model, day, ts, ts, float(amount)],
        )


class LedgerStore:
    """The ledger's tables on their own connection (safe from any thread; raises
    `DatabaseError` or `StoreError`, which the governance layer turns into its own)."""

    def __init__(self, target: StoreLocation | Path | str | None) -> None:
        conn = open_database(target)
        try:
            migrate(conn, TRACK, MIGRATIONS)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        # One connection is shared by the event loop and worker threads; sqlite3 objects
        # are not safe to use from two threads at the same moment.
        self._lock = threading.Lock()
        self._held_sql = held_sql(conn.greatest)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- calls ---------------------------------------------------------------------------

    def upsert_call(self, row: CallRow) -> None:
        """Insert a call's figures, or update them unless a final figure would be replaced
        by an estimate."""
        params = [
            row.call_id,
            row.session_id,
            row.turn_id,
            row.provider,
            row.model,
            row.day,
            row.input_tokens,
            row.output_tokens,
            row.cache_read_tokens,
            row.cache_write_tokens,
            row.reasoning_tokens,
            row.cost_usd,
            int(row.estimated),
            row.created_at,
            row.updated_at,
        ]
        with self._lock:
            self._conn.execute(_UPSERT, params)

    def release(self, call_id: str) -> None:
        """Drop a call's reservation; a call that recorded nothing loses its row."""
        with self._lock:
            self._conn.execute(
                "DELETE FROM ledger_calls WHERE call_id = ? AND estimated = 1 "
                "AND input_tokens = 0 AND output_tokens = 0 AND COALESCE(cost_usd, 0) = 0",
                [call_id],
            )
            self._conn.execute(
                "UPDATE ledger_calls SET reserved_usd = 0 WHERE call_id = ? AND reserved_usd != 0",
                [call_id],
            )

    @contextmanager
    def reserving(self) -> Iterator[Reservation]:
        """One transaction under the server-wide reservation lock (PostgreSQL's advisory
        lock; SQLite's write lock, taken by BEGIN IMMEDIATE), committed when the block ends."""
        with self._lock:
            self._conn.begin()
            try:
                self._conn.lock(RESERVE_LOCK)
                yield Reservation(self)
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise

    def held(self, scope: str, key: str, *, exclude_call: str | None = None) -> float:
        """What the calls of one call id, turn, session or day (YYYY-MM-DD) hold against
        the caps (without `exclude_call`): a few rows of running totals for a day or a session."""
        with self._lock:
            return self._held(scope, key, exclude_call)

    def _held(self, scope: str, key: str, exclude_call: str | None) -> float:
        column = _SCOPE_COLUMN[scope]
        if scope in ("day", "session"):
            row = self._conn.execute(
                "SELECT COALESCE((SELECT SUM(held_usd) FROM ledger_totals WHERE scope = ? "
                "AND id = ?), 0)"
                f" - COALESCE((SELECT {self._held_sql} FROM ledger_calls WHERE call_id = ? "
                f"AND {column} = ?), 0)",
                [scope, key, exclude_call or "", key],
            ).fetchone()
            # A running sum of floats may end a hair below zero once everything is released.
            return max(0.0, float(row[0]))
        row = self._conn.execute(
            f"SELECT COALESCE(SUM({self._held_sql}), 0) FROM ledger_calls WHERE {column} = ? "
            "AND call_id != ?",
            [key, exclude_call or ""],
        ).fetchone()
        return float(row[0])

    def reserved_total(self) -> float:
        """What every call together still reserves (0 once every call has ended)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(reserved_usd), 0) FROM ledger_calls"
            ).fetchone()
        return float(row[0])

    def get(self, call_id: str) -> CallRow | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM ledger_calls WHERE call_id = ?", [call_id]
            ).fetchone()
        return None if row is None else _call_row(row)

    def calls(self, *, day: str | None = None, session_id: str | None = None) -> list[CallRow]:
        where, params = _filters(day=day, session_id=session_id)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM ledger_calls {where} ORDER BY created_at", params
            ).fetchall()
        return [_call_row(row) for row in rows]

    def totals_by(
        self, group: Group, *, day: str | None, session_id: str | None, limit: int
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
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {expression} AS key, COALESCE(SUM(cost_usd), 0), COUNT(*), "
                f"SUM(input_tokens), SUM(output_tokens), "
                f"SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) FROM ledger_calls {where} "
                "GROUP BY key ORDER BY 2 DESC, key LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [
            SpendGroup(str(k), float(c), int(n), int(i or 0), int(o or 0), int(u or 0))
            for k, c, n, i, o, u in rows
        ]

    def spend_by_session(self, *, since: float) -> list[dict[str, object]]:
        """Spend per session of the calls made since `since` (the audit's spend records)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT COALESCE(session_id, ''), COALESCE(SUM(cost_usd), 0), COUNT(*), "
                "MAX(updated_at) FROM ledger_calls WHERE created_at >= ? "
                "GROUP BY COALESCE(session_id, '') ORDER BY 1",
                [since],
            ).fetchall()
        return [
            {"session_id": k, "cost_usd": float(c), "calls": int(n), "last_at": float(last)}
            for k, c, n, last in rows
        ]

    # --- caps ----------------------------------------------------------------------------

    def stored_caps(self) -> dict[str, float]:
        with self._lock:
            rows = self._conn.execute("SELECT scope, value FROM budget_caps").fetchall()
        return {str(scope): float(value) for scope, value in rows}

    def set_cap(self, scope: str, value: float, ts: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO budget_caps (scope, value, set_at) VALUES (?, ?, ?) "
                "ON CONFLICT(scope) DO UPDATE SET value = excluded.value, set_at = excluded.set_at",
                [scope, float(value), ts],
            )

    def clear_cap(self, scope: str | None) -> None:
        with self._lock:
            if scope is None:
                self._conn.execute("DELETE FROM budget_caps")
            else:
                self._conn.execute("DELETE FROM budget_caps WHERE scope = ?", [scope])


def _filters(*, day: str | None, session_id: str | None) -> tuple[str, list[object]]:
    clauses, params = [], []
    if day is not None:
        clauses.append("day = ?")
        params.append(day)
    if session_id is not None:
        clauses.append("session_id = ?")
        params.append(session_id)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _call_row(row: Sequence[Any]) -> CallRow:
    values = list(row)
    values[12] = bool(values[12])
    if values[11] is not None:
        values[11] = float(values[11])
    values[13], values[14] = float(values[13]), float(values[14])
    return CallRow(*values)
