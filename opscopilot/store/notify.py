"""Pushed changes on a team store: PostgreSQL's LISTEN/NOTIFY, no polling.

A trigger on the shared tables that other hosts wait on (approvals today; the change feed
when it is there) sends `NOTIFY opscopilot_changes, '<table>'` when a statement changes
them; the notification is delivered at commit, to every connection listening, on every
host. `Listener` is one such connection: `wait(timeout)` blocks on its socket until a
notification arrives (or the timeout passes) and says which tables moved.

Migration track `notify`: its steps do nothing on SQLite, where a watch reads
`PRAGMA data_version` instead.
"""

from __future__ import annotations

import threading
import time

from opscopilot.store.backend import Connection, DatabaseError, connect_postgres
from opscopilot.store.errors import StoreError
from opscopilot.store.location import StoreLocation, resolve

TRACK = "notify"
CHANNEL = "opscopilot_changes"
# Tables whose changes are pushed: what another host may be waiting to see.
PUSHED_TABLES = ("approvals",)


def _v1_notify_on_change(db: Connection) -> None:
    if db.dialect != "postgresql":
        return
    db.execute(
        "CREATE OR REPLACE FUNCTION opscopilot_notify_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$"
    )
    for table in PUSHED_TABLES:
        db.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION opscopilot_notify_change()"
        )


STEPS = [_v1_notify_on_change]


class Listener:
    """One connection LISTENing on the store's change channel (PostgreSQL only)."""

    def __init__(self, target: StoreLocation | str | None = None) -> None:
        location = resolve(target)
        if not location.is_postgres:
            raise StoreError("io", "pushed changes need a PostgreSQL store")
        try:
            self._conn = connect_postgres(location)
            self._conn.execute(f"LISTEN {CHANNEL}")
        except DatabaseError as exc:
            raise StoreError("io", str(exc)) from None
        self._lock = threading.Lock()

    def wait(self, timeout: float) -> list[str]:
        """Block until a change is pushed (or `timeout` s pass: []); the tables that moved,
        including every notification already waiting."""
        raw = self._conn.raw  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeout
        with self._lock:
            tables: list[str] = []
            try:
                for notice in raw.notifies(timeout=max(0.0, timeout), stop_after=1):
                    tables.append(notice.payload)
                left = max(0.0, deadline - time.monotonic())
                if tables:  # anything else already delivered, without waiting again
                    for notice in raw.notifies(timeout=min(left, 0.0001)):
                        tables.append(notice.payload)
            except Exception as exc:  # the driver's own error, as the store's one line
                raise StoreError("io", f"the change listener failed: {exc}") from None
            return tables

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
