"""`opscopilot store copy FROM TO`: move every row of one store into another (a single host's
SQLite file into the team's PostgreSQL database, typically), in one transaction on the
destination, then count every table on both sides.

The destination is migrated first (every track this opscopilot knows) and must be empty: a
copy never merges two stores' rows. Tables are copied in dependency order, a page at a time;
identity columns keep their values and their sequences are moved past them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opscopilot.store import db, ledger, notify
from opscopilot.store.backend import Connection, DatabaseError
from opscopilot.store.errors import StoreError
from opscopilot.store.location import StoreLocation, resolve

PAGE = 2000
# Parents before children (batch_items references batch_runs); the rest in name order.
_FIRST = ("batch_runs",)


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    destination: int

    @property
    def equal(self) -> bool:
        return self.source == self.destination


def migrate_all(conn: Connection) -> None:
    """Every migration track this opscopilot knows, brought up to date on `conn`."""
    from opscopilot.store import operators
    from opscopilot.store.batch import MIGRATIONS as BATCH_STEPS
    from opscopilot.store.schema import CORE_STEPS, TRACK

    db.migrate(conn, TRACK, CORE_STEPS)
    db.migrate(conn, ledger.TRACK, ledger.MIGRATIONS)
    db.migrate(conn, operators.TRACK, operators.STEPS)
    db.migrate(conn, "batch", BATCH_STEPS)
    db.migrate(conn, notify.TRACK, notify.STEPS)


def _order(tables: list[str]) -> list[str]:
    first = [name for name in _FIRST if name in tables]
    return first + sorted(name for name in tables if name not in first)


def copy_store(
    source: StoreLocation | str,
    destination: StoreLocation | str,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> list[TableCount]:
    """Copy every row; the per-table counts after (StoreError when something is off)."""
    src_at, dst_at = resolve(source), resolve(destination)
    if src_at.display() == dst_at.display():
        raise StoreError("conflict", "the source and the destination are the same store")
    src = db.open_database(src_at)
    try:
        migrate_all(src)  # the source at this opscopilot's schema, so columns line up
        dst = db.open_database(dst_at)
        try:
            migrate_all(dst)
            # Derived tables (the ledger's running totals) are not copied: the destination's
            # triggers rebuild them as the rows they follow arrive.
            skipped = {"schema_versions", *ledger.DERIVED_TABLES}
            tables = [t for t in _order(src.tables()) if t not in skipped]
            missing = [t for t in tables if t not in set(dst.tables())]
            if missing:
                raise StoreError(
                    "version",
                    f"{dst_at.display()} has no table {', '.join(missing)} "
                    "(written by a part this opscopilot does not know); nothing copied",
                )
            busy = [t for t in tables if _count(dst, t)]
            if busy:
                raise StoreError(
                    "conflict",
                    f"{dst_at.display()} is not empty ({', '.join(busy)} hold rows); a copy "
                    "goes into a new, empty store",
                )
            dst.begin()
            try:
                for table in tables:
                    copied = _copy_table(src, dst, table)
                    if progress is not None:
                        progress(table, copied)
                dst.commit()
            except BaseException:
                dst.rollback()
                raise
            return [TableCount(t, _count(src, t), _count(dst, t)) for t in tables]
        finally:
            dst.close()
    except DatabaseError as exc:
        raise StoreError("io", f"copy failed: {exc}") from None
    finally:
        src.close()


def _count(conn: Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _copy_table(src: Connection, dst: Connection, table: str) -> int:
    wanted = dst.columns(table)
    have = set(src.columns(table))
    # SQLite's implicit rowid orders turns and the journal; PostgreSQL keeps it as a column.
    if src.dialect == "sqlite" and "rowid" in wanted and "rowid" not in have:
        have.add("rowid")
    columns = [c for c in wanted if c in have]
    order = "rowid" if src.dialect == "sqlite" else columns[0]
    select = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
    cursor = src.execute(select)
    total = 0
    while True:
        rows = cursor.fetchmany(PAGE)
        if not rows:
            break
        dst.insert_many(table, columns, [tuple(row) for row in rows])
        total += len(rows)
    for column in dst.identity_columns(table):
        dst.reset_identity(table, column)
    return total
