"""Run every benchmark, each in a fresh subprocess, and print their Markdown tables together.

Each benchmark writes benchmarks/results/NAME-latest.json; this script gathers their tables
into benchmarks/results/all-<timestamp>.md (ready to paste into benchmarks/README.md).

Usage: python benchmarks/run_all.py [--quick]   (--quick: small sizes, a smoke run in ~1 min)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import BENCH_DIR, RESULTS_DIR, machine

BENCHMARKS: list[tuple[str, str, list[str], list[str]]] = [
    # (results name, script, full-run arguments, --quick arguments)
    (
        "stream",
        "bench_stream.py",
        [],
        ["--events", "20000", "--peer-events", "2000", "--litellm-events", "500", "--repeats", "1"],
    ),
    (
        "cold_start",
        "bench_cold_start.py",
        [],
        ["--repeats", "2", "--peer-repeats", "1", "--litellm-repeats", "1"],
    ),
    (
        "store",
        "bench_store.py",
        [],
        ["--events", "10000", "--runtime-events", "2000", "--paced", "300", "--repeats", "1"],
    ),
    # engineer K's: the queue and the TUI
    (
        "scheduler",
        "bench_scheduler.py",
        [],
        ["--calls", "40", "--concurrency", "8", "--rounds", "2000", "--repeats", "1"],
    ),
    ("replay", "bench_replay.py", [], ["--events", "2000", "--repeats", "1"]),
    ("serve", "bench_serve.py", [], ["--quick"]),
    ("decisions", "bench_decisions.py", [], ["--repeats", "3"]),
    ("sandbox", "bench_sandbox.py", [], ["--runs", "5", "--skip-batch"]),
    ("redact", "bench_redact.py", [], ["--tokens", "2000", "--repeats", "1"]),
    ("mcp", "bench_mcp.py", [], ["--repeats", "1"]),
    (
        "team_store",
        "bench_team_store.py",
        [],
        ["--approvals", "20", "--writes", "50"],
    ),
    (
        "tui",
        "bench_tui.py",
        [],
        [
            "--tokens",
            "1000",
            "--short-tokens",
            "100",
            "--presses",
            "3",
            "--start-repeats",
            "1",
            "--repeats",
            "1",
        ],
    ),
    # fanout: one batch run worked by 1, 2 and 4 workers on one PostgreSQL store
    (
        "batch_fanout",
        "bench_batch_fanout.py",
        [],
        ["--tickets", "8", "--latency-ms", "100", "--rounds", "1"],
    ),
    # longshift: a whole on-call shift (long TUI session, batch scaling, idle with pending)
    (
        "longshift",
        "bench_longshift.py",
        [],
        ["--turns", "30", "--small", "40", "--large", "200", "--pending", "2000", "--idle-s", "3"],
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    args = parser.parse_args()

    sections, failures = [], []
    started = time.perf_counter()
    for name, script, full, quick in BENCHMARKS:
        if not (BENCH_DIR / script).exists():
            print(f"skipping {script}: not in this checkout", file=sys.stderr)
            continue
        command = [sys.executable, str(BENCH_DIR / script), *(quick if args.quick else full)]
        print(
            f"$ {' '.join(Path(c).name if c.endswith('.py') else c for c in command[1:])}",
            file=sys.stderr,
            flush=True,
        )
        began = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            failures.append(f"{script} exited {done.returncode}")
            print(done.stdout, file=sys.stderr)
            continue
        summary = "\n".join(
            line for line in done.stdout.strip().splitlines() if not line.startswith("results:")
        ).strip()
        latest = json.loads((RESULTS_DIR / f"{name}-latest.json").read_text())
        sections.append(f"{summary}\n\n_{script}: {seconds:.0f} s_")
        print(f"  done in {seconds:.0f} s ({latest['benchmark']})", file=sys.stderr, flush=True)

    host = machine()
    header = (
        f"Measured {host['date']} on {host['cpus']} cores ({host['processor']}, "
        f"{host['platform']}), Python {host['python']}; command: "
        f"`python benchmarks/run_all.py{' --quick' if args.quick else ''}` "
        f"({time.perf_counter() - started:.0f} s in all)."
    )
    report = "\n\n".join([header, *sections])
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"all-{time.strftime('%Y%m%d-%H%M%S')}.md"
    path.write_text(report + "\n")
    print(report)
    print(f"\nreport: {path}")
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
