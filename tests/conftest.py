from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import system_packages
from tests.support.postgres_server import PostgresServer
from tests.support.wire_server import WireServer

# Provider keys and base URLs from the developer's shell must never reach a test.
_PROVIDER_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_BASE_URL",
    "OLLAMA_HOST",
    "OPSCOPILOT_MODEL",
    "OPENROUTER_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "MISTRAL_API_KEY",
    "TOGETHER_API_KEY",
    "XAI_API_KEY",
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` runs one worker more than the machine has cores: many tests spend part of
    their time waiting on a real server or a CLI process, and the spare worker keeps both
    cores busy meanwhile (on 2 cores, 3 workers finish the suite sooner than 2)."""
    return (os.cpu_count() or 1) + 1


def pytest_sessionstart(session: pytest.Session) -> None:
    """Install the Debian packages the sandbox, store, metrics and browser tests need."""
    problem = system_packages.ensure_installed()
    if problem:
        print(f"\nopscopilot tests: {problem}; tests that need them are skipped")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own OPSCOPILOT_HOME and no provider credentials."""
    home = tmp_path / "opscopilot-home"
    home.mkdir()
    monkeypatch.setenv("OPSCOPILOT_HOME", str(home))
    for name in _PROVIDER_VARS:
        monkeypatch.delenv(name, raising=False)
    from opscopilot import config

    config._cached_config.cache_clear()
    return home


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server per test process (see tests/support/postgres_server.py)."""
    pytest.importorskip("psycopg", reason="the PostgreSQL tests need psycopg (the dev extra)")
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database on the session's server (every table in place), as a store URL."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, isolated_home: Path) -> str:
    """The store's behaviour tests run once per backend: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{isolated_home / 'opscopilot.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def wire_server(request: pytest.FixtureRequest) -> Iterator[WireServer]:
    """A loopback HTTP server; the seed for its random chunking comes from the test's name."""
    seed = int(os.environ.get("WIRE_SEED", zlib.crc32(request.node.nodeid.encode()) & 0xFFFF))
    with WireServer(seed=seed) as server:
        yield server
