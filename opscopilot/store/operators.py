"""The `operator_tokens` table (migration track "web"): who may use `opscopilot serve`'s API
and pages, by the sha256 of their token. What a token is and who may have one is decided in
`opscopilot/web/operators.py`; this module only stores the rows, on either backend.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from opscopilot.store import db
from opscopilot.store.backend import Connection

TRACK = "web"


def _v1_operator_tokens(conn: Connection) -> None:
    conn.execute(
        """CREATE TABLE operator_tokens (
            name TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            revoked_at REAL
        )"""
    )


STEPS: list[db.Migration] = [_v1_operator_tokens]
_COLUMNS = "name, token_hash, created_at, revoked_at"


@dataclass(frozen=True)
class Operator:
    name: str
    token_hash: str
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class OperatorTokens:
    """The operator_tokens table on its own connection (safe from any thread; raises
    `DatabaseError` or `StoreError`)."""

    def __init__(self, target: Any) -> None:
        """`target`: the SQLite file, a store URL or location, or None (the configured store)."""
        self._conn = db.open_database(target)
        self._lock = threading.Lock()
        try:
            db.migrate(self._conn, TRACK, STEPS)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def add(self, name: str, token_hash: str, now: float) -> bool:
        """Give `name` this token (replacing a revoked one); False, and nothing changed, when
        `name` has a token in force."""
        with self._lock:
            self._conn.begin()
            try:
                row = self._conn.execute(
                    f"SELECT revoked_at FROM operator_tokens WHERE name = ?{self._conn.for_update}",
                    [name],
                ).fetchone()
                if row is not None and row[0] is None:
                    self._conn.rollback()
                    return False
                self._conn.execute(
                    "INSERT INTO operator_tokens (name, token_hash, created_at, revoked_at) "
                    "VALUES (?, ?, ?, NULL) ON CONFLICT(name) DO UPDATE SET "
                    "token_hash = excluded.token_hash, created_at = excluded.created_at, "
                    "revoked_at = NULL",
                    [name, token_hash, now],
                )
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
        return True

    def revoke(self, name: str, now: float) -> bool:
        """Revoke `name`'s token in force; False when there is none."""
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE operator_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                [now, name],
            )
        return cursor.rowcount != 0

    def all(self) -> list[Operator]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM operator_tokens ORDER BY name"
            ).fetchall()
        return [Operator(*row) for row in rows]

    def active_by_hash(self, token_hash: str) -> Operator | None:
        return self._active("token_hash", token_hash)

    def active_by_name(self, name: str) -> Operator | None:
        return self._active("name", name)

    def _active(self, column: str, value: str) -> Operator | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM operator_tokens WHERE {column} = ? AND revoked_at IS NULL",
                [value],
            ).fetchone()
        return Operator(*row) if row else None
