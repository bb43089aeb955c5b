"""What every benchmark shares: the loopback server process, medians, results files, tables.

Benchmarks quote medians and ratios measured in one run, never one absolute time: the
machine is shared and noisy, but contenders measured side by side meet the same noise.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# OPSCOPILOT_BENCH_RESULTS moves the results (the smoke tests write to a temporary folder).
RESULTS_DIR = Path(os.environ.get("OPSCOPILOT_BENCH_RESULTS") or BENCH_DIR / "results")
BENCH_KEY = "sk-bench-not-a-real-key"


@contextmanager
def child_server(command: list[str], what: str = "benchmark server") -> Iterator[str]:
    """Run a loopback server in its own process (so its threads never share our GIL); yield
    the base URL it prints first. It stops when its stdin closes."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"{what} did not start (said {url!r})")
        yield url
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_process(n: int, *extra: str):
    """benchmarks/_server.py in its own process; yields its base URL (no /v1)."""
    return child_server([sys.executable, str(BENCH_DIR / "_server.py"), str(n), *extra])


@contextmanager
def isolated_home() -> Iterator[Path]:
    """A throwaway OPSCOPILOT_HOME, so a benchmark never touches the operator's data."""
    previous = os.environ.get("OPSCOPILOT_HOME")
    with tempfile.TemporaryDirectory(prefix="opscopilot-bench-") as home:
        os.environ["OPSCOPILOT_HOME"] = home
        try:
            yield Path(home)
        finally:
            if previous is None:
                os.environ.pop("OPSCOPILOT_HOME", None)
            else:
                os.environ["OPSCOPILOT_HOME"] = previous


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """min–max, so a reader sees how noisy the median was."""
    return f"{min(values):.3g}–{max(values):.3g}"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """benchmarks/results/NAME-<timestamp>.json and NAME-latest.json (git-ignored)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), "command": " ".join(sys.argv), **payload}
    text = json.dumps(payload, indent=2)
    stamped = RESULTS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    stamped.write_text(text)
    (RESULTS_DIR / f"{name}-latest.json").write_text(text)
    return stamped


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def console_script(name: str = "opscopilot") -> str:
    """The real console script next to this interpreter (a pyenv shim would add ~50 ms)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    import shutil

    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (pip install -e .)")
    return found
