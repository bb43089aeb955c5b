"""Opening the store's database (a SQLite file or a PostgreSQL server), and migrations by track.

Each layer that keeps tables (the store's core tables, the governance ledger, …) owns a
migration track: an ordered list of steps. `migrate` applies the steps a database has not
seen yet, inside one transaction per step, and records the version in `schema_versions`.
Several processes may open the file at once: WAL and a busy timeout make that safe; on
PostgreSQL an advisory lock lets one process migrate at a time. The steps are written once,
for both backends, through the connection layer (`store/backend.py`).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from opscopilot.store.backend import Connection, DatabaseError, SqliteConnection

if TYPE_CHECKING:
    import sqlite_utils

    from opscopilot.store.location import StoreLocation

# What callers may still hand `migrate`: a sqlite-utils Database or a plain sqlite3
# connection (wrapped in the connection layer). Steps are raw SQL through `.execute`.
Database: TypeAlias = "sqlite_utils.Database | sqlite3.Connection"
Migration = Callable[[Connection], None]

StoreErrorKind = Literal["conflict", "not_found", "disk_full", "locked", "corrupt", "io", "version"]

BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK = "opscopilot-schema"
_VERSIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_versions (track TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)
_VERSIONS_EXIST_PG = (
    "SELECT 1 FROM pg_catalog.pg_tables "
    "WHERE schemaname = current_schema() AND tablename = 'schema_versions'"
)


class StoreError(Exception):
    """The database could not be opened or written (full disk, corrupt file, …); `kind` says
    which, and the message is one readable line. The one exception of the store layer."""

    def __init__(self, kind: StoreErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: StoreErrorKind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message


def _import_sqlite_utils():
    """Import sqlite-utils without the pandas/numpy it loads when they happen to be installed.

    It only uses them to convert their value types, which we never store, and they cost
    ~250 ms of start-up on every command that opens the database. They stay importable
    for anyone else afterwards.
    """
    hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail fast
    try:
        import sqlite_utils
    finally:
        for name in hidden:
            del sys.modules[name]
    return sqlite_utils


def open_connection(path: Path | str) -> sqlite3.Connection:
    """Open (creating if needed) the database at `path` as a plain sqlite3 connection: WAL,
    a busy timeout, autocommit (transactions are explicit), the versions table."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except (sqlite3.Error, OSError) as exc:
        kind: StoreErrorKind = "corrupt" if "not a database" in str(exc) else "io"
        raise StoreError(kind, f"cannot open database {path}: {exc}") from None
    conn.execute(_VERSIONS_TABLE)
    return conn


def open_reader(path: Path | str) -> sqlite3.Connection:
    """A connection to the file at `path` that only reads: no schema work, so opening it
    never waits for a lock (a change watch's, an event tail's)."""
    try:
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise StoreError("io", f"cannot open database {path}: {exc}") from None
    return conn


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the database at `path` with WAL and a busy timeout."""
    return _import_sqlite_utils().Database(open_connection(path))


def open_database(target: StoreLocation | Path | str | None = None) -> Connection:
    """A connection to the store's database, whichever backend `target` names (None: the
    configured one, see `location.configured`), with the versions table in place."""
    from opscopilot.store.location import LocationError, resolve

    try:
        where = resolve(target)
    except LocationError as exc:
        raise StoreError("io", str(exc)) from None
    if where.is_postgres:
        from opscopilot.store.backend import connect_postgres

        try:
            conn = connect_postgres(where)
        except DatabaseError as exc:
            raise StoreError("io", str(exc)) from None
        try:
            # Every process opens a few connections: once the table is there (always but on
            # a new database), one read instead of a transaction that takes the schema lock.
            if conn.execute(_VERSIONS_EXIST_PG).fetchone() is None:
                conn.begin()
                conn.lock(_SCHEMA_LOCK)
                conn.execute(_VERSIONS_TABLE)
                conn.commit()
        except DatabaseError as exc:
            conn.close()
            raise StoreError("io", f"cannot open {where.display()}: {exc}") from None
        return conn
    assert where.path is not None
    return SqliteConnection(open_connection(where.path))


def as_connection(db: Database | Connection) -> Connection:
    """The connection layer's view of what a caller holds (a raw sqlite3 connection or a
    sqlite-utils Database are wrapped)."""
    if isinstance(db, Connection):
        return db
    raw = db if isinstance(db, sqlite3.Connection) else db.conn
    return SqliteConnection(raw, named_rows=False)


def migrate(db: Database | Connection, track: str, steps: Sequence[Migration]) -> int:
    """Bring `track` up to len(steps); returns the version now in force.

    Each step is given the connection layer (`Connection`: `.execute`, `.dialect`) inside
    its own transaction; DDL written for SQLite is translated for PostgreSQL there. A
    database written by a newer opscopilot (version above what we know) is refused rather
    than guessed at.
    """
    conn = as_connection(db)
    while True:
        current = _version(conn, track)
        if current > len(steps):
            raise StoreError(
                "version",
                f"database schema '{track}' is version {current}, newer than this opscopilot "
                f"knows ({len(steps)}); upgrade opscopilot",
            )
        if current == len(steps):
            return current
        conn.begin()
        try:
            conn.lock(_SCHEMA_LOCK)
            if _version(conn, track) != current:  # another process migrated meanwhile
                conn.rollback()
                continue
            steps[current](conn)
            conn.execute(
                "INSERT INTO schema_versions (track, version) VALUES (?, ?) "
                "ON CONFLICT(track) DO UPDATE SET version = excluded.version",
                [track, current + 1],
            )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


def _version(conn: Connection, track: str) -> int:
    row = conn.execute("SELECT version FROM schema_versions WHERE track = ?", [track]).fetchone()
    return int(row[0]) if row else 0
