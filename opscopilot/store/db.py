"""Opening the one SQLite database, and schema migrations by track.

Each layer that keeps tables (the store's core tables, the governance ledger, …) owns a
migration track: an ordered list of steps. `migrate` applies the steps a database has not
seen yet, inside one transaction per step, and records the version in `schema_versions`.
Several processes may open the file at once: WAL and a busy timeout make that safe.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    import sqlite_utils

# What a migration step is given: the sqlite-utils Database (the store) or the plain sqlite3
# connection (the ledger, which keeps sqlite-utils off `prompt`'s start-up path). Steps are
# raw SQL through `.execute`, which both have.
Database: TypeAlias = "sqlite_utils.Database | sqlite3.Connection"
Migration = Callable[[Database], None]

StoreErrorKind = Literal["conflict", "not_found", "disk_full", "locked", "corrupt", "io", "version"]

BUSY_TIMEOUT_MS = 30_000


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
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions (track TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    return conn


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the database at `path` with WAL and a busy timeout."""
    return _import_sqlite_utils().Database(open_connection(path))


def migrate(db: Database, track: str, steps: Sequence[Migration]) -> int:
    """Bring `track` up to len(steps); returns the version now in force.

    `db` is what `connect` or `open_connection` returned; each step is given it as is. A
    database written by a newer opscopilot (version above what we know) is refused rather
    than guessed at.
    """
    conn = db if isinstance(db, sqlite3.Connection) else db.conn
    while True:
        row = conn.execute(
            "SELECT version FROM schema_versions WHERE track = ?", [track]
        ).fetchone()
        current = row[0] if row else 0
        if current > len(steps):
            raise StoreError(
                "version",
                f"database schema '{track}' is version {current}, newer than this opscopilot "
                f"knows ({len(steps)}); upgrade opscopilot",
            )
        if current == len(steps):
            return current
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT version FROM schema_versions WHERE track = ?", [track]
            ).fetchone()
            if (row[0] if row else 0) != current:  # another process migrated meanwhile
                conn.execute("ROLLBACK")
                continue
            steps[current](db)
            conn.execute(
                "INSERT INTO schema_versions (track, version) VALUES (?, ?) "
                "ON CONFLICT(track) DO UPDATE SET version = excluded.version",
                [track, current + 1],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
