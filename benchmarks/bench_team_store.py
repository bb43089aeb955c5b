"""The team store: how fast host B sees host A's approval, and ledger writes per second.

1. Approval visibility across hosts (PostgreSQL, LISTEN/NOTIFY): host A (this process)
   requests an approval; host B (another process, its own connections) wakes on the push,
   lists pending approvals and reports the moment it saw the new one. Median and p95 of
   `seen - requested` over N requests, one at a time.
2. Ledger writes per second with 8 concurrent writer processes (each `Ledger.record`, one
   row per call, a commit each) on each backend: a SQLite file (WAL) and PostgreSQL.

The PostgreSQL server is started here, as the tests start it (initdb + pg_ctl into a temp
folder on a loopback port; tests/support/postgres_server.py).

Usage: python benchmarks/bench_team_store.py [--approvals 200] [--writes 400] [--writers 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import isolated_home, markdown_table, write_results

ROOT = Path(__file__).resolve().parent.parent


def _listen(url: str, expected: int) -> None:
    from opscopilot.store import Store

    seen: set[str] = set()
    with Store.open(url) as store, store.watch_changes() as watch:
        print("ready", flush=True)
        while len(seen) < expected:
            if not watch.wait(60.0):  # blocks on the socket until the server pushes
                raise SystemExit("no push within 60 s")
            for approval in store.list_approvals():
                if approval.id not in seen:
                    seen.add(approval.id)
                    print(json.dumps({"id": approval.id, "seen_at": time.time()}), flush=True)


def _write(url: str, writes: int, tag: str) -> None:
    from opscopilot.governance import Ledger
    from opscopilot.llm.types import Usage

    with Ledger(url) as ledger:
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        for n in range(writes):
            ledger.record(
                f"{tag}-{n}",
                session_id=f"s-{tag}",
                turn_id=f"t-{tag}",
                provider="bench",
                model="m",
                usage=Usage(input_tokens=100, output_tokens=20),
                cost_usd=0.0001,
                estimated=False,
            )
        print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)


def _child(*args: str, stdin: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE if stdin else None,
        stdout=subprocess.PIPE,
        text=True,
    )


def visibility(url: str, count: int) -> list[float]:
    from opscopilot.store import ApprovalRecord, Store

    host_b = _child("--listen", url, str(count))
    assert host_b.stdout is not None
    assert host_b.stdout.readline().strip() == "ready"
    latencies = []
    with Store.open(url) as host_a:
        for n in range(count):
            requested = time.time()
            host_a.create_approval(
                ApprovalRecord(
                    id=f"a{n}",
                    session_id="s",
                    turn_id="t",
                    tool_call_id=f"c{n}",
                    tool="run_command",
                    arguments={"command": "systemctl restart nginx"},
                    risk="write",
                    call_hash=f"h{n}",
                    requested_at=requested,
                )
            )
            seen = json.loads(host_b.stdout.readline())
            assert seen["id"] == f"a{n}"
            latencies.append((seen["seen_at"] - requested) * 1000)
    host_b.wait(timeout=60)
    return latencies


def ledger_rate(url: str, writers: int, writes: int) -> float:
    from opscopilot.governance import Ledger

    Ledger(url).close()  # migrated once, before the writers race
    children = [_child("--write", url, str(writes), f"w{n}", stdin=True) for n in range(writers)]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        assert child.stdout is not None
        json.loads(child.stdout.readline())
        child.wait(timeout=120)
    elapsed = time.perf_counter() - started
    with Ledger(url) as ledger:
        assert len(ledger.calls()) == writers * writes  # every write landed
    return writers * writes / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument("--writes", type=int, default=400, help="per writer")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--listen", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listen:
        return _listen(args.listen[0], int(args.listen[1]))
    if args.write:
        return _write(args.write[0], int(args.write[1]), args.write[2])

    from tests.support.postgres_server import PostgresServer

    server = PostgresServer().start()
    try:
        with isolated_home() as home:
            latencies = visibility(server.new_database(), args.approvals)
            sqlite_rate = ledger_rate(f"sqlite:///{home / 'ledger.db'}", args.writers, args.writes)
            pg_rate = ledger_rate(server.new_database(), args.writers, args.writes)
    finally:
        server.stop()
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    rows = [
        [
            f"approval visible on host B (LISTEN/NOTIFY), {args.approvals} requests",
            f"median {statistics.median(latencies):.2f} ms, p95 {p95:.2f} ms",
        ],
        [
            f"ledger writes/s, {args.writers} writer processes, SQLite (WAL)",
            f"{sqlite_rate:,.0f}",
        ],
        [f"ledger writes/s, {args.writers} writer processes, PostgreSQL", f"{pg_rate:,.0f}"],
    ]
    print("### Team store\n")
    print(markdown_table(["measure", "result"], rows))
    path = write_results(
        "team_store",
        {
            "visibility_ms": {
                "median": statistics.median(latencies),
                "p95": p95,
                "samples": len(latencies),
            },
            "ledger_writes_per_s": {"sqlite": sqlite_rate, "postgresql": pg_rate},
            "writers": args.writers,
            "writes_per_writer": args.writes,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
