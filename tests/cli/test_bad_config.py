"""A broken config.toml is one readable line from every command, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opscopilot.batch.sample import generate

TICKETS = Path(generate.__file__).parent / "tickets.jsonl"


@pytest.mark.parametrize(
    "args",
    [
        ["prompt", "hi"],
        ["run", "hi"],
        ["batch", str(TICKETS), "-o", "REPORT"],
        ["budget", "show"],
        ["models", "list"],
        ["tui"],
    ],
    ids=lambda a: a[0],
)
def test_every_command_reports_a_broken_config_in_one_line(
    args: list[str], isolated_home: Path, tmp_path: Path
):
    (isolated_home / "config.toml").write_text("this is [not toml\n")
    args = [str(tmp_path / "r.jsonl") if a == "REPORT" else a for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "opscopilot", *args],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("config.toml: not valid TOML" in line for line in lines), result.stderr
    assert len([line for line in lines if "not valid TOML" in line]) == 1
