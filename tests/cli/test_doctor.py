"""`opscopilot doctor`: one line per check, a stable JSON object, exit 1 only when essential."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runtime.support import cli_env, opscopilot


def test_doctor_reports_every_check_and_names_keys_without_their_values(
    isolated_home: Path,
) -> None:
    env = cli_env(isolated_home, None)
    env["OPENAI_API_KEY"] = "sk-doctor-value-never-printed-0123456789"
    done = opscopilot("doctor", "--json", env=env)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is True
    names = [c["name"] for c in document["checks"]]
    assert names[:4] == ["config", "store", "sandbox", "keys"]
    for check in document["checks"]:
        assert set(check) == {"name", "status", "summary", "essential", "detail"}
        assert check["status"] in ("ok", "warn", "fail")
    (keys,) = [c for c in document["checks"] if c["name"] == "keys"]
    assert "openai (OPENAI_API_KEY)" in keys["detail"]["providers"]
    assert "sk-doctor-value" not in done.stdout
    text = opscopilot("doctor", env=env)
    assert text.returncode == 0 and "sandbox" in text.stdout
    assert "sk-doctor-value" not in text.stdout


def test_a_broken_config_fails_doctor_with_exit_1(isolated_home: Path) -> None:
    (isolated_home / "config.toml").write_text("[defaults\n")
    done = opscopilot("doctor", env=cli_env(isolated_home, None))
    assert done.returncode == 1
    assert "FAIL  config" in done.stdout and "not valid TOML" in done.stdout


def test_doctor_names_the_store_in_use_its_version_and_latency_on_each_backend(
    isolated_home: Path, store_url: str
) -> None:
    env = cli_env(isolated_home, None)
    env["OPSCOPILOT_STORE"] = store_url
    done = opscopilot("doctor", "--json", env=env)
    assert done.returncode == 0, done.stderr
    (store,) = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "store"]
    detail = store["detail"]
    assert store["status"] == "ok" and detail["ok"] is True
    backend = store_url.split(":", 1)[0]
    assert detail["backend"] == backend
    assert detail["version"].startswith("SQLite 3" if backend == "sqlite" else "PostgreSQL 15")
    assert detail["latency_ms"] > 0
    text = opscopilot("doctor", env=env)
    (line,) = [x for x in text.stdout.splitlines() if x.split()[1:2] == ["store"]]
    assert backend in line and "round trip" in line and detail["version"] in line
    if backend == "postgresql":
        password = store_url.split(":")[2].split("@")[0]
        assert password not in done.stdout + text.stdout
        assert detail["location"] == store_url.replace(password, "[REDACTED]")


def test_doctor_says_in_one_line_why_the_team_store_cannot_be_reached(
    isolated_home: Path, postgres_url: str
) -> None:
    password = postgres_url.split(":")[2].split("@")[0]
    env = cli_env(isolated_home, None)
    env["OPSCOPILOT_STORE"] = postgres_url.replace(password, "not-the-password")
    done = opscopilot("doctor", env=env)
    assert done.returncode == 1
    (line,) = [x for x in done.stdout.splitlines() if x.split()[1:2] == ["store"]]
    assert line.startswith("FAIL") and "password authentication failed" in line
    assert "not-the-password" not in done.stdout and password not in done.stdout
