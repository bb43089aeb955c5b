"""Operators and their tokens: only a token's sha256 is kept, in the database's "web" track.

A token is `ocp_` and 32 random bytes (url-safe base64); it is printed once by `opscopilot serve
token add` and never stored. Every request looks its hash up again, so a revoked token stops
working at once, on a server that is already running too.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import Any

from opscopilot.store.backend import DatabaseError
from opscopilot.store.operators import TRACK, Operator, OperatorTokens

__all__ = ["TOKEN_PREFIX", "TRACK", "Operator", "OperatorError", "Operators", "token_hash"]

TOKEN_PREFIX = "ocp_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class OperatorError(Exception):
    """A token command could not be done; the message is one line."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Operators:
    """Operators and their tokens (safe from any thread); the rows are the store's."""

    def __init__(self, path: Any) -> None:
        """`path`: the SQLite file, a store URL or location, or None (the configured store)."""
        self._tokens = OperatorTokens(path)

    @classmethod
    def open(cls, path: Any = None) -> Operators:
        return cls(path)

    def close(self) -> None:
        self._tokens.close()

    def add(self, name: str, *, now: float | None = None) -> str:
        """A new token for `name` (replacing a revoked one); the token itself, to print once."""
        if not _NAME.match(name):
            raise OperatorError(
                f"operator name {name!r}: use letters, digits and . _ @ - (at most 64)"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        if not self._tokens.add(name, token_hash(token), time.time() if now is None else now):
            raise OperatorError(
                f"operator {name} already has a token; revoke it first "
                f"(opscopilot serve token revoke {name})"
            )
        return token

    def revoke(self, name: str, *, now: float | None = None) -> None:
        if not self._tokens.revoke(name, time.time() if now is None else now):
            raise OperatorError(f"no operator {name} with a token in force")

    def list(self) -> list[Operator]:
        return self._tokens.all()

    def by_token(self, token: str) -> Operator | None:
        """The operator whose token this is, when it is in force."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        try:
            return self._tokens.active_by_hash(token_hash(token))
        except DatabaseError:
            return None

    def by_name(self, name: str) -> Operator | None:
        """The operator of that name, when their token is in force."""
        try:
            return self._tokens.active_by_name(name)
        except DatabaseError:
            return None
