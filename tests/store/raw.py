"""Reading a store's tables behind its back (what is really on disk), on either backend."""

from __future__ import annotations

from typing import Any

from opscopilot.store import Store, db


def raw_rows(store: Store, sql: str, params: list[Any] | None = None) -> list[Any]:
    """The rows of `sql` (with `?` placeholders) run on a connection of the store's own."""
    conn = db.open_database(store.location)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()
