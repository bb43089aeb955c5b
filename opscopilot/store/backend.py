"""The connection layer under every table owner: one interface, a SQLite and a PostgreSQL side.

Callers write one SQL text with `?` placeholders and the portable forms both servers know
(`INSERT … ON CONFLICT … DO UPDATE`, `RETURNING`, `COALESCE`); what differs is here:

- placeholders (`?` on SQLite, `%s` on PostgreSQL), translated once per statement text;
- types in `CREATE TABLE`/`ALTER TABLE` (`REAL` is 8 bytes on SQLite, 4 on PostgreSQL, so it
  becomes `DOUBLE PRECISION`; `INTEGER PRIMARY KEY` becomes an identity column);
- `greatest` (two-argument `MAX` on SQLite), `for_update` and `skip_locked` row locks,
  `now_sql` (the server's clock, in epoch seconds), `lock(name)` (an advisory lock held until
  the transaction ends: PostgreSQL's `pg_advisory_xact_lock`; SQLite's `BEGIN IMMEDIATE`
  already serialises writers);
- errors: both drivers' exceptions become `DatabaseError` (or `IntegrityError`), with the
  password of the URL never in the text.

Rows read like `sqlite3.Row` on both: by index, by column name, and `dict(row)`.
psycopg is imported only by `connect_postgres`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from opscopilot.store.location import StoreLocation


class DatabaseError(Exception):
    """A driver error, as one line (the driver's own exception is `original`)."""

    def __init__(self, message: str, original: BaseException | None = None) -> None:
        super().__init__(message)
        self.original = original


class IntegrityError(DatabaseError):
    """A constraint said no (a duplicate primary key, most often)."""


class Connection:
    """What the store, the ledger and batch state talk to (see the module doc)."""

    dialect: str = ""
    greatest = "MAX"
    for_update = ""
    skip_locked = ""
    now_sql = "(julianday('now') - 2440587.5) * 86400.0"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Append many rows at once (executemany on SQLite, COPY on PostgreSQL)."""
        marks = ", ".join("?" * len(columns))
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        raise NotImplementedError

    def lock(self, name: str) -> None:
        """Hold an advisory lock named `name` until the current transaction ends."""

    def close(self) -> None:
        raise NotImplementedError

    def server_version(self) -> str:
        raise NotImplementedError

    def tables(self) -> list[str]:
        """The database's tables, by name."""
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        """A table's columns in their order."""
        raise NotImplementedError

    def identity_columns(self, table: str) -> list[str]:
        """Columns whose values a sequence hands out (to move past copied values)."""
        return []

    def json_number(self, column: str, key: str) -> str:
        """SQL for the number under `key` of the JSON object held as text in `column`."""
        raise NotImplementedError

    def compact(self, tables: Sequence[str]) -> None:
        """Give the space of deleted rows back (outside any transaction)."""
        raise NotImplementedError

    def reset_identity(self, table: str, column: str) -> None:
        """Make the next generated value follow the largest one in the table."""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqliteConnection(Connection):
    dialect = "sqlite"

    def __init__(self, raw: sqlite3.Connection, *, named_rows: bool = True) -> None:
        self.raw = raw
        if named_rows:
            raw.row_factory = sqlite3.Row

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.raw.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc), exc) from None
        except sqlite3.Error as exc:
            raise DatabaseError(_sqlite_detail(exc), exc) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.raw.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc), exc) from None
        except sqlite3.Error as exc:
            raise DatabaseError(_sqlite_detail(exc), exc) from None

    def begin(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def close(self) -> None:
        self.raw.close()

    def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def tables(self) -> list[str]:
        rows = self.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        return [row[0] for row in rows]

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.execute(f"PRAGMA table_info({table})").fetchall()]

    def data_version(self) -> int:
        """A number that moves whenever another connection commits (no table is read)."""
        return int(self.execute("PRAGMA data_version").fetchone()[0])

    def json_number(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def compact(self, tables: Sequence[str]) -> None:
        self.execute("VACUUM")
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file shrinks now


def _sqlite_detail(exc: sqlite3.Error) -> str:
    detail = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in detail:
        detail = f"{detail} (is the file or its folder read-only?)"
    return detail


# --- PostgreSQL -------------------------------------------------------------------------------

_DDL = re.compile(r"^\s*(CREATE\s+TABLE|ALTER\s+TABLE)", re.IGNORECASE)
_DDL_TYPES = [
    (
        re.compile(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b", re.IGNORECASE),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bREAL\b", re.IGNORECASE), "DOUBLE PRECISION"),
    (re.compile(r"\bINTEGER\b", re.IGNORECASE), "BIGINT"),
    (re.compile(r"\bBLOB\b", re.IGNORECASE), "BYTEA"),
]


@lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """One statement text in PostgreSQL's spelling (placeholders, and DDL types)."""
    if _DDL.match(sql):
        for pattern, replacement in _DDL_TYPES:
            sql = pattern.sub(replacement, sql)
    return sql.replace("%", "%%").replace("?", "%s")


class Row(tuple):
    """A result row read by index, by name, or as `dict(row)` (like sqlite3.Row)."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description or []
    names = {column.name: index for index, column in enumerate(description)}

    def make(values: Sequence[Any]) -> Row:
        return Row(values, names)

    return make


class PostgresConnection(Connection):
    dialect = "postgresql"
    greatest = "GREATEST"
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    now_sql = "EXTRACT(EPOCH FROM clock_timestamp())::float8"

    def __init__(self, raw: Any, location: StoreLocation) -> None:
        import psycopg

        self.raw = raw
        self.location = location
        self._psycopg = psycopg

    def _error(self, exc: Exception) -> DatabaseError:
        errors = self._psycopg.errors
        message = self.location.scrub(str(exc).strip().splitlines()[0] if str(exc) else repr(exc))
        if isinstance(exc, self._psycopg.IntegrityError | errors.UniqueViolation):
            return IntegrityError(message, exc)
        return DatabaseError(message, exc)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self.raw.execute(postgres_sql(sql), list(params))
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self.raw.cursor() as cursor:
                cursor.executemany(postgres_sql(sql), [list(row) for row in rows])
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        try:
            with (
                self.raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def begin(self) -> None:
        self.execute("BEGIN")

    @property
    def in_transaction(self) -> bool:
        status = self.raw.info.transaction_status
        return status != self._psycopg.pq.TransactionStatus.IDLE

    def lock(self, name: str) -> None:
        self.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [name])

    def close(self) -> None:
        self.raw.close()

    def server_version(self) -> str:
        number = self.raw.info.server_version
        return f"PostgreSQL {number // 10000}.{number % 10000}"

    def tables(self) -> list[str]:
        rows = self.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        ).fetchall()
        return [row[0] for row in rows]

    def columns(self, table: str) -> list[str]:
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return [row[0] for row in rows]

    def json_number(self, column: str, key: str) -> str:
        return f"CAST(CAST({column} AS json) ->> '{key}' AS DOUBLE PRECISION)"

    def compact(self, tables: Sequence[str]) -> None:
        for table in tables:  # marks the space reusable; never locks out readers or writers
            self.execute(f"VACUUM (ANALYZE) {table}")

    def identity_columns(self, table: str) -> list[str]:
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? AND is_identity = 'YES'",
            [table],
        ).fetchall()
        return [row[0] for row in rows]

    def reset_identity(self, table: str, column: str) -> None:
        self.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), "
            f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)",
            [table, column],
        )


def connect_postgres(location: StoreLocation, *, connect_timeout_s: float = 10.0) -> Connection:
    """A PostgreSQL connection in autocommit mode (transactions are explicit, as on SQLite)."""
    try:
        import psycopg
    except ImportError:
        raise DatabaseError(
            "the PostgreSQL store needs psycopg: pip install 'opscopilot[postgres]'"
        ) from None
    try:
        raw = psycopg.connect(
            location.url,
            autocommit=True,
            row_factory=_row_factory,
            connect_timeout=max(1, int(connect_timeout_s)),
            application_name="opscopilot",
        )
    except psycopg.Error as exc:
        detail = location.scrub(" ".join(str(exc).split()))
        raise DatabaseError(f"cannot connect to {location.display()}: {detail}", None) from None
    return PostgresConnection(raw, location)
