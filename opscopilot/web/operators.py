"""Operators and their tokens: only a token's sha256 is kept, in the database's "web" track.

A token is `ocp_` and 32 random bytes (url-safe base64); it is printed once by `opscopilot serve
token add` and never stored. Every request looks its hash up again, so a revoked token stops
working at once, on a server that is already running too.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from opscopilot.store import db
from opscopilot.store.backend import DatabaseError

TRACK = "web"
TOKEN_PREFIX = "ocp_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def _v1_operator_tokens(conn: db.Database) -> None:
    conn.execute(
        """CREATE TABLE operator_tokens (
            name TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            revoked_at REAL
        )"""
    )


STEPS: list[db.Migration] = [_v1_operator_tokens]


class OperatorError(Exception):
    """A token command could not be done; the message is one line."""


@dataclass(frozen=True)
class Operator:
    name: str
    token_hash: str
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Operators:
    """The operator_tokens table on its own connection (safe from any thread)."""

    def __init__(self, path: Any) -> None:
        """`path`: the SQLite file, a store URL or location, or None (the configured store)."""
        self._conn = db.open_database(path)
        self._lock = threading.Lock()
        db.migrate(self._conn, TRACK, STEPS)

    @classmethod
    def open(cls, path: Any = None) -> Operators:
        return cls(path)

    def close(self) -> None:
        self._conn.close()

    def add(self, name: str, *, now: float | None = None) -> str:
        """A new token for `name` (replacing a revoked one); the token itself, to print once."""
        if not _NAME.match(name):
            raise OperatorError(
                f"operator name {name!r}: use letters, digits and . _ @ - (at most 64)"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = time.time() if now is None else now
        with self._lock:
            return self._add(name, token, now)

    def _add(self, name: str, token: str, now: float) -> str:
        self._conn.begin()
        try:
            row = self._conn.execute(
                f"SELECT revoked_at FROM operator_tokens WHERE name = ?{self._conn.for_update}",
                [name],
            ).fetchone()
            if row is not None and row[0] is None:
                raise OperatorError(
                    f"operator {name} already has a token; revoke it first "
                    f"(opscopilot serve token revoke {name})"
                )
            self._conn.execute(
                "INSERT INTO operator_tokens (name, token_hash, created_at, revoked_at) "
                "VALUES (?, ?, ?, NULL) ON CONFLICT(name) DO UPDATE SET "
                "token_hash = excluded.token_hash, created_at = excluded.created_at, "
                "revoked_at = NULL",
                [name, token_hash(token), now],
            )
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise
        return token

    def revoke(self, name: str, *, now: float | None = None) -> None:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE operator_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                [time.time() if now is None else now, name],
            )
        if cursor.rowcount == 0:
            raise OperatorError(f"no operator {name} with a token in force")

    def list(self) -> list[Operator]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, token_hash, created_at, revoked_at FROM operator_tokens ORDER BY name"
            ).fetchall()
        return [Operator(*row) for row in rows]

    def by_token(self, token: str) -> Operator | None:
        """The operator whose token this is, when it is in force."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        return self._one("token_hash = ?", token_hash(token))

    def by_name(self, name: str) -> Operator | None:
        """The operator of that name, when their token is in force."""
        return self._one("name = ?", name)

    def _one(self, clause: str, value: str) -> Operator | None:
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT name, token_hash, created_at, revoked_at FROM operator_tokens "
                    f"WHERE {clause} AND revoked_at IS NULL",
                    [value],
                ).fetchone()
        except DatabaseError:
            return None
        return Operator(*row) if row else None
