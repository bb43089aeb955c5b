"""The usage ledger: one row per model call, its tokens and cost, in the shared store.

A call's row is written while it streams (an estimate, `estimated = 1`) and reconciled with
the provider's figure when that arrives (`estimated = 0`); a late estimate never overwrites a
final figure. Each row carries the UTC day it started on, so the day's spend survives
restarts and every process sees the same total. The caps stored by `opscopilot budget set`
live here too. The tables and their statements are `opscopilot/store/ledger.py`'s; this
module decides what a call's spend means: the scopes it counts in, and how a reservation is
judged and held against the caps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from opscopilot.governance.errors import GovernanceError
from opscopilot.llm.types import Usage
from opscopilot.store.backend import DatabaseError
from opscopilot.store.db import StoreError
from opscopilot.store.ledger import CallRow, LedgerStore, SpendGroup

if TYPE_CHECKING:
    from opscopilot.store.location import StoreLocation

__all__ = ["SCOPES", "Ledger", "LedgerRow", "Scope", "SpendGroup", "Spent", "utc_day"]

Scope = Literal["call", "turn", "session", "day"]
Verdict = TypeVar("Verdict")
SCOPES: tuple[Scope, ...] = ("call", "turn", "session", "day")


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


class Ledger:
    """Every model call's usage and cost; safe to share between threads and processes."""

    def __init__(self, path: StoreLocation | Path | str | None = None) -> None:
        """The ledger in the store's database: a SQLite file, a store URL or location, or
        (None) the configured store."""
        self.path = path if path is not None else _configured()
        # Plain sqlite3 (through the connection layer), not sqlite-utils: `prompt` opens the
        # ledger before its request leaves. psycopg is imported only on PostgreSQL.
        try:
            self._tables = LedgerStore(self.path)
        except (StoreError, DatabaseError) as exc:
            detail = exc if isinstance(exc, StoreError) else f"ledger {_shown(self.path)}: {exc}"
            raise GovernanceError("io", str(detail)) from None

    def close(self) -> None:
        self._tables.close()

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
        row = CallRow(
            call_id=call_id,
            session_id=session_id,
            turn_id=turn_id,
            provider=provider,
            model=model,
            day=utc_day(now),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=cost_usd,
            estimated=estimated,
            created_at=now,
            updated_at=now,
        )
        with _io("ledger write failed"):
            self._tables.upsert_call(row)

    def set_cap(self, scope: str, value: float, *, ts: float | None = None) -> None:
        """Store a cap set by `opscopilot budget set` (scope: call, turn, session, day, warn)."""
        with _io("ledger write failed"):
            self._tables.set_cap(scope, float(value), time.time() if ts is None else ts)

    def clear_cap(self, scope: str | None = None) -> None:
        """Forget one stored cap, or all of them when `scope` is None."""
        with _io("ledger write failed"):
            self._tables.clear_cap(scope)

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
        scopes: Collection[Scope] = SCOPES,
    ) -> tuple[Verdict, Spent]:
        """Check a call against the caps and hold its cost, atomically across every process.

        Under one lock (the server's advisory lock on PostgreSQL, the write lock on SQLite),
        `judge(spent)` is handed what the turn, session and day hold (spent plus the
        reservations of calls still running; only the `scopes` asked for are read, the
        others are 0) and returns its verdict and the amount to hold (0: nothing, the call
        does not run). A held amount counts against every cap until the call's final figure
        is recorded, so racing hosts cannot all spend the last dollar.
        """
        now = time.time() if ts is None else ts
        day = utc_day(now)
        with _io("ledger reservation failed"), self._tables.reserving() as reservation:
            spent = _spent(reservation.held, session_id, turn_id, day, scopes)
            verdict, amount = judge(spent)
            if amount > 0:
                reservation.hold(
                    call_id,
                    session_id=session_id,
                    turn_id=turn_id,
                    provider=provider,
                    model=model,
                    day=day,
                    ts=now,
                    amount=amount,
                )
        return verdict, spent

    def release(self, call_id: str) -> None:
        """A call has ended: its recorded figure counts from now on, not its reservation (a
        call that recorded nothing leaves no row)."""
        with _io("ledger write failed"):
            self._tables.release(call_id)

    # --- reading -------------------------------------------------------------------------

    def stored_caps(self) -> dict[str, float]:
        with _io("ledger read failed"):
            return self._tables.stored_caps()

    def spent(self, scope: Scope, key: str, *, exclude_call: str | None = None) -> float:
        """USD spent in one scope: a call id, a turn id, a session id, or a day (YYYY-MM-DD);
        calls still running count with what they hold (see `reserve`).

        `exclude_call` leaves one call out (a running call asking what the others spent).
        """
        if scope not in SCOPES:
            raise GovernanceError("bad_request", f"unknown spend scope {scope!r}")
        with _io("ledger read failed"):
            return self._tables.held(scope, key, exclude_call=exclude_call)

    def spent_today(self, now: float | None = None) -> float:
        return self.spent("day", utc_day(time.time() if now is None else now))

    def spent_before(
        self,
        *,
        session_id: str | None,
        turn_id: str | None,
        now: float | None = None,
        exclude_call: str | None = None,
        scopes: Collection[Scope] = SCOPES,
    ) -> Spent:
        """The spend a call adds to, in each of `scopes` it belongs to (without
        `exclude_call`); a scope not asked for is 0. The day and the session are one row
        each (running totals), so this costs the same whatever the day already holds."""
        day = utc_day(time.time() if now is None else now)

        def held(scope: str, key: str) -> float:
            return self._tables.held(scope, key, exclude_call=exclude_call)

        with _io("ledger read failed"):
            return _spent(held, session_id, turn_id, day, scopes)

    def reserved(self) -> float:
        """What every running call still reserves, together (0 once every call has ended)."""
        with _io("ledger read failed"):
            return self._tables.reserved_total()

    def get(self, call_id: str) -> LedgerRow | None:
        with _io("ledger read failed"):
            row = self._tables.get(call_id)
        return None if row is None else _to_row(row)

    def calls(self, *, day: str | None = None, session_id: str | None = None) -> list[LedgerRow]:
        with _io("ledger read failed"):
            return [_to_row(row) for row in self._tables.calls(day=day, session_id=session_id)]

    def totals_by(
        self,
        group: Literal["model", "provider", "session", "turn", "day"],
        *,
        day: str | None = None,
        session_id: str | None = None,
        limit: int = 10,
    ) -> list[SpendGroup]:
        """Spend grouped by model (`provider:model`), provider, session, turn or day, largest first."""
        with _io("ledger read failed"):
            return self._tables.totals_by(group, day=day, session_id=session_id, limit=limit)

    def spend_by_session(self, *, since: float = 0.0) -> list[dict[str, object]]:
        """Spend per session of the calls made since `since` (the audit's spend records)."""
        with _io("ledger read failed"):
            return self._tables.spend_by_session(since=since)


def _spent(
    held: Callable[[str, str], float],
    session_id: str | None,
    turn_id: str | None,
    day: str,
    scopes: Collection[Scope],
) -> Spent:
    return Spent(
        turn=held("turn", turn_id) if turn_id and "turn" in scopes else 0.0,
        session=held("session", session_id) if session_id and "session" in scopes else 0.0,
        day=held("day", day) if "day" in scopes else 0.0,
    )


@contextmanager
def _io(doing: str) -> Iterator[None]:
    try:
        yield
    except DatabaseError as exc:
        raise GovernanceError("io", f"{doing}: {exc}") from None


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


def _to_row(row: CallRow) -> LedgerRow:
    usage = Usage(
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cache_read_tokens=row.cache_read_tokens,
        cache_write_tokens=row.cache_write_tokens,
        reasoning_tokens=row.reasoning_tokens,
    )
    return LedgerRow(
        call_id=row.call_id,
        session_id=row.session_id,
        turn_id=row.turn_id,
        provider=row.provider,
        model=row.model,
        day=row.day,
        usage=usage,
        cost_usd=row.cost_usd,
        estimated=row.estimated,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
