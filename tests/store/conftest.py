from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opscopilot.store import Store


@pytest.fixture
def db_path(isolated_home: Path) -> Path:
    return isolated_home / "opscopilot.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = Store.open(db_path)
    try:
        yield opened
    finally:
        opened.close()
