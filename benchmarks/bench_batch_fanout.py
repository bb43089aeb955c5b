"""Batch fan-out: one run's throughput with 1, 2 and 4 workers on one PostgreSQL store.

Each worker is a real `opscopilot batch TICKETS --run NAME` process with an OPSCOPILOT_HOME
of its own (as if on its own host), all started at once on a fresh database of one
PostgreSQL server (started here, as the tests start it: tests/support/postgres_server.py).
The model is a loopback ticket model with a fixed latency per reply (tests/support/
ticket_model.py: each ticket is a `tail_log` call and an answer, two model calls), so the
workers' time is mostly waiting on the model, as against a real provider.

Measured per worker count, the rounds interleaved (1, 2, 4, 1, 2, 4, …) so the shared
machine's load falls on each alike: tickets per second from the first worker's start to
the last one's exit (start-up included), and in the steady state (first to last ticket
finished, from the store). Medians; ratios against 1 worker of the same run, of the medians
and round by round (each round's N workers against the 1 worker just before them, which a
machine whose load drifts during the run skews less). Every round checks that each ticket
was settled exactly once.

Usage: python benchmarks/bench_batch_fanout.py [--tickets 80] [--latency-ms 250]
       [--concurrency 1] [--workers 1,2,4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import markdown_table, spread, write_results

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "opscopilot" / "batch" / "sample" / "tickets.jsonl"


def backlog(folder: Path, count: int) -> Path:
    tickets = folder / "tickets.jsonl"
    tickets.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:count]))
    (folder / "logs").symlink_to(SAMPLE.parent / "logs")
    return tickets


def compiled(env: dict[str, str]) -> None:
    """Workers load opscopilot from bytecode compiled once, as an installed package does (pip
    compiles at install): a source checkout under PYTHONDONTWRITEBYTECODE would make each
    worker compile its ~110 modules again (about 0.3 s of CPU per worker start). Into the
    checkout's own (ignored) __pycache__ folders: a PYTHONPYCACHEPREFIX would hide every
    other package's bytecode from the workers too."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "opscopilot")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def one_round(
    folder: Path, tickets: Path, url: str, env: dict[str, str], workers: int, concurrency: int
) -> dict[str, float]:
    from opscopilot.store.batch import BatchState, named_run_key

    name = f"bench-{workers}-{folder.name}"
    started = time.perf_counter()
    processes = []
    for n in range(workers):
        home = folder / f"home-{workers}-{n}"
        home.mkdir()
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "opscopilot",
                    "batch",
                    str(tickets),
                    "-o",
                    str(folder / f"r-{workers}-{n}.jsonl"),
                    "--run",
                    name,
                    "--concurrency",
                    str(concurrency),
                    "-q",
                ],
                env={**env, "OPSCOPILOT_HOME": str(home), "OPSCOPILOT_STORE": url},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed: {stderr[-1500:]}")
    wall = time.perf_counter() - started
    state = BatchState(url, named_run_key(name))
    try:
        items = state.items()
        done_by = state.workers()
    finally:
        state.close()
    count = len(items)
    if {i.status for i in items} != {"done"} or None in done_by.values():
        raise RuntimeError("a ticket was not settled")
    if len({i.outcome["id"] for i in items if i.outcome}) != count:
        raise RuntimeError("a ticket was reported twice")
    finished = sorted(i.finished_at for i in items if i.finished_at is not None)
    steady = (count - 1) / (finished[-1] - finished[0]) if len(finished) > 1 else 0.0
    return {
        "wall_s": wall,
        "tickets_per_s": count / wall,
        "steady_tickets_per_s": steady,
        "workers_that_worked": len(set(done_by.values())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=80, help="at most the sample's 120")
    parser.add_argument("--latency-ms", type=float, default=250.0, help="per model reply")
    parser.add_argument("--concurrency", type=int, default=1, help="tickets per worker at once")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    from tests.support.postgres_server import PostgresServer
    from tests.support.ticket_model import MODEL, model_env, serve_tickets
    from tests.support.wire_server import WireServer

    server = PostgresServer().start()
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
    try:
        with WireServer(seed=3) as model, tempfile.TemporaryDirectory() as scratch:
            serve_tickets(model, latency_s=args.latency_ms / 1000)
            folder = Path(scratch)
            tickets = backlog(folder, args.tickets)
            env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
            env.update(model_env(model), OPSCOPILOT_MODEL=MODEL, PYTHONPATH=str(ROOT))
            compiled(env)
            for round_number in range(args.rounds):
                for workers in counts:
                    round_folder = folder / f"round-{round_number}-{workers}"
                    round_folder.mkdir()
                    url = server.new_database()
                    runs[workers].append(
                        one_round(round_folder, tickets, url, env, workers, args.concurrency)
                    )
    finally:
        server.stop()

    def med(workers: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[workers])

    base, base_steady = med(counts[0], "tickets_per_s"), med(counts[0], "steady_tickets_per_s")
    rows, figures = [], {}
    for workers in counts:
        rate, steady = med(workers, "tickets_per_s"), med(workers, "steady_tickets_per_s")
        # Each round against the 1-worker run just before it (the same load, give or take).
        by_round = [
            mine["tickets_per_s"] / one["tickets_per_s"]
            for one, mine in zip(runs[counts[0]], runs[workers], strict=True)
        ]
        figures[workers] = {
            "tickets_per_s": rate,
            "steady_tickets_per_s": steady,
            "ratio": rate / base,
            "ratio_by_round": statistics.median(by_round),
            "steady_ratio": steady / base_steady if base_steady else 0.0,
            "wall_s": [r["wall_s"] for r in runs[workers]],
            "rounds": runs[workers],
        }
        rows.append(
            [
                f"{workers} worker{'s' if workers > 1 else ''}",
                f"{rate:.2f} ({spread([r['tickets_per_s'] for r in runs[workers]])})",
                f"{rate / base:.2f}×",
                f"{statistics.median(by_round):.2f}× ({spread(by_round)})",
                f"{steady:.2f}",
                f"{steady / base_steady:.2f}×" if base_steady else "–",
            ]
        )
    print(
        f"### Batch fan-out: {args.tickets} tickets, model latency {args.latency_ms:.0f} ms per "
        f"reply, concurrency {args.concurrency} per worker, PostgreSQL, {args.rounds} rounds\n"
    )
    print(
        markdown_table(
            [
                "measure",
                "tickets/s (start to exit)",
                "ratio",
                "ratio by round",
                "tickets/s (steady)",
                "ratio",
            ],
            rows,
        )
    )
    two = figures.get(2)
    if two is not None:
        verdict = "meets" if two["ratio"] >= 1.8 else "misses"
        print(
            f"\n2 workers: {two['ratio']:.2f}× one worker ({verdict} the 1.8× target); "
            f"round by round {two['ratio_by_round']:.2f}×, steady {two['steady_ratio']:.2f}×"
        )
    path = write_results(
        "batch_fanout",
        {
            "tickets": args.tickets,
            "latency_ms": args.latency_ms,
            "concurrency": args.concurrency,
            "workers": figures,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
