"""Choosing the backend (OPSCOPILOT_STORE, [store] url), its URL's password kept out of every
text, and two "hosts" (separate homes, separate processes) sharing one PostgreSQL store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opscopilot.governance import Ledger
from opscopilot.store import Store, StoreError
from opscopilot.store.location import LocationError, configured, parse

REPO = Path(__file__).resolve().parents[2]


def test_urls_name_a_sqlite_file_or_a_postgresql_server_and_never_show_the_password() -> None:
    assert parse("sqlite:////var/lib/ops.db").path == Path("/var/lib/ops.db")
    assert parse("sqlite:///ops.db").path == Path.cwd() / "ops.db"
    assert parse("/tmp/x.db").path == Path("/tmp/x.db")
    team = parse("postgresql://ops:s3cret-pass@db.internal:5433/opscopilot")
    assert team.is_postgres
    assert team.display() == "postgresql://ops:[REDACTED]@db.internal:5433/opscopilot"
    assert "s3cret-pass" not in repr(team) and "s3cret-pass" not in str(team)
    assert team.scrub("failed for postgresql://ops:s3cret-pass@db.internal:5433/opscopilot") == (
        "failed for postgresql://ops:[REDACTED]@db.internal:5433/opscopilot"
    )
    # A server on this host through its Unix socket directory, as libpq spells it.
    local = parse("postgresql://ops@/opscopilot?host=/run/postgresql&port=5433")
    assert local.is_postgres and local.display() == local.url
    by_query = parse("postgresql:///opscopilot?host=/run/postgresql&password=s3cret-too")
    assert by_query.display() == (
        "postgresql:///opscopilot?host=/run/postgresql&password=[REDACTED]"
    )
    assert "s3cret-too" not in by_query.scrub(f"failed for {by_query.url}: s3cret-too")
    for bad in ("mysql://x/y", "postgresql://host-only", "sqlite://", "postgresql:///db"):
        with pytest.raises(LocationError) as caught:
            parse(bad)
        assert "\n" not in str(caught.value)


def test_the_environment_wins_over_config_toml(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert configured().path == isolated_home / "opscopilot.db"
    (isolated_home / "config.toml").write_text('[store]\nurl = "sqlite:////tmp/from-config.db"\n')
    from opscopilot import config

    config._cached_config.cache_clear()
    assert configured().path == Path("/tmp/from-config.db")
    monkeypatch.setenv("OPSCOPILOT_STORE", "postgresql://u:pw-from-env@127.0.0.1:1/db")
    assert configured().is_postgres


def test_a_refused_connection_is_one_line_without_the_password(postgres_url: str) -> None:
    wrong = postgres_url.replace("pw-", "wrong-password-", 1)
    password = wrong.split(":")[2].split("@")[0]
    with pytest.raises(StoreError) as caught:
        Store.open(wrong)
    text = str(caught.value)
    assert "\n" not in text and password not in text
    assert "password authentication failed" in text
    assert "opscopilot:[REDACTED]@" in text  # who, not the secret
    closed_port = postgres_url.rsplit(":", 1)[0] + ":1/nowhere"
    with pytest.raises(StoreError) as refused:
        Store.open(closed_port)
    assert "pw-" not in str(refused.value) and "cannot connect" in str(refused.value)
    with pytest.raises(Exception) as ledger_error:
        Ledger(wrong)
    assert password not in str(ledger_error.value)


def test_the_sqlite_store_and_ledger_never_import_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from opscopilot.store import Store\n"
        "from opscopilot.governance import Ledger\n"
        f"Store.open({str(tmp_path / 'a.db')!r}).close()\n"
        f"Ledger({str(tmp_path / 'a.db')!r}).close()\n"
        "print('psycopg' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def _cli(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPSCOPILOT_HOME": str(home),
        "OPSCOPILOT_STORE": url,
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_approval_asked_on_one_host_is_decided_on_another_and_the_turn_continues(
    tmp_path: Path, postgres_url: str
) -> None:
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    host_a.mkdir()
    host_b.mkdir()
    paused = _cli(host_a, postgres_url, "run", "restart nginx", "--json")
    assert paused.returncode == 3, paused.stderr
    turn = json.loads(paused.stdout)
    [approval_id] = turn["pending_approvals"]

    listed = _cli(host_b, postgres_url, "approvals", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [a["id"] for a in json.loads(listed.stdout)] == [approval_id]
    denied = _cli(host_b, postgres_url, "approvals", "deny", approval_id, "--reason", "not now")
    assert denied.returncode == 0, denied.stderr

    resumed = _cli(host_a, postgres_url, "resume", turn["turn_id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    done = json.loads(resumed.stdout)
    assert done["status"] == "completed"
    assert done["tool_calls"][0]["status"] == "denied"
    shown = json.loads(
        _cli(host_a, postgres_url, "approvals", "show", approval_id, "--json").stdout
    )
    assert shown["status"] == "denied" and shown["decision_reason"] == "not now"
    # Nothing of the shared state went to either host's disk, and the password to no output.
    assert not list(host_a.glob("*.db")) and not list(host_b.glob("*.db"))
    password = postgres_url.split(":")[2].split("@")[0]
    for result in (paused, listed, denied, resumed):
        assert password not in result.stdout + result.stderr


def test_the_store_health_names_the_backend_its_version_and_latency(store_url: str) -> None:
    from opscopilot.store.health import check

    health = check(store_url)
    assert health.ok, health.detail
    assert health.backend in ("sqlite", "postgresql")
    assert health.version.startswith(("SQLite 3.", "PostgreSQL 1"))
    assert health.latency_ms is not None and health.latency_ms >= 0
    assert "pw-" not in health.line() and "pw-" not in json.dumps(health.to_json())
    refused = check(store_url.replace("pw-", "nope-", 1) if "pw-" in store_url else "/proc/x/y.db")
    assert not refused.ok and "\n" not in refused.detail
