from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opscopilot.store import Store


@pytest.fixture
def db_path(isolated_home: Path) -> Path:
    return isolated_home / "opscopilot.db"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """The store on each backend in turn (a SQLite file, then a PostgreSQL database)."""
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()
