from __future__ import annotations

from pathlib import Path

import pytest

from opscopilot import events as ev
from opscopilot.store import Store, StoreError


def test_a_file_that_is_not_a_database_is_a_corrupt_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("this is a text file, not SQLite\n" * 100)
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    assert caught.value.kind == "corrupt"
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_an_unwritable_location_is_an_io_error(tmp_path: Path) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(StoreError) as caught:
        Store.open(blocker / "sub" / "opscopilot.db")  # a folder can't be made under a file
    assert caught.value.kind == "io"
    assert "\n" not in str(caught.value)


def test_a_read_only_database_is_an_io_error_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    Store.open(path).close()
    import sqlite3

    from opscopilot.store.errors import from_exception

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as raw:
        conn.execute("INSERT INTO sessions VALUES ('s', 'm', '', 0, 0)")
    error = from_exception(raw.value, "cannot create session s")
    assert error.kind == "io" and "read-only" in str(error)


def test_a_full_disk_is_reported_with_kind_disk_full_and_nothing_queued_is_lost(
    db_path: Path,
) -> None:
    store = Store.open(db_path)
    try:
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        # Cap the file at its current size: SQLite then answers SQLITE_FULL, as on a full disk.
        store._writer._conn.execute(f"PRAGMA max_page_count = {pages}")
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        for i in range(2000):
            store.append_event(ev.Notice(ts=float(i), message="x" * 200))
        with pytest.raises(StoreError) as caught:
            store.flush()
        assert caught.value.kind == "disk_full"
        assert "full" in str(caught.value)
        with pytest.raises(StoreError) as sync_write:
            store.save_snapshot("t1", {"big": "y" * 100_000}, 1.0)
        assert sync_write.value.kind == "disk_full"
        # Space comes back: the queued events were kept and now land, in order.
        store._writer._conn.execute("PRAGMA max_page_count = 1073741823")
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        store.flush()
        assert [int(e.ts) for _, e in store.events()] == list(range(2000))
    finally:
        store.close()
