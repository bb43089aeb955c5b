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
