"""bench_sandbox.py and bench_redact.py still run end to end (tiny sizes) and write results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import system_packages

ROOT = Path(__file__).resolve().parents[2]


def test_sandbox_benchmark_measures_every_command_both_ways(tmp_path: Path) -> None:
    system_packages.require("bwrap")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_sandbox.py"),
            "--runs",
            "1",
            "--skip-batch",
        ],
        env={**os.environ, "OPSCOPILOT_BENCH_RESULTS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "sandbox-latest.json").read_text())
    confined = [row for row in result["commands"] if row["confined_ms"] is not None]
    assert len(confined) == 5
    for row in confined:
        assert len(row["confined_samples"]) == 1 and len(row["unconfined_samples"]) == 1
    assert "| `df -h` |" in done.stdout


def test_redaction_benchmark_measures_both_paths_both_ways(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_redact.py"),
            "--tokens",
            "200",
            "--repeats",
            "1",
        ],
        env={**os.environ, "OPSCOPILOT_BENCH_RESULTS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "redact-latest.json").read_text())["results"]
    assert result["store filter (PersistFilter) prose"]["on_us"] > 0
    assert result["stdout (StreamRedactor) trigger words"]["off_us"] > 0
