"""Decision to continue, across processes: how long after another process commits a decision
the paused turn's owner picks it up and goes on (target: p95 under 1 s).

The owner is a real `opscopilot run "restart nginx" --wait` (builtin:ops, offline: the restart
asks for approval). This process waits for the request on the store's change watch, records a
denial as another terminal would (`decide_approval`, channel cli), and reads back, once the
owner has finished, the `approval.decided` event the owner's core emitted when it picked the
decision up. Latency = that event's timestamp − the decision's `decided_at` (one host, one
clock). Denials only: a benchmark never restarts a real service.
Usage: python benchmarks/bench_decisions.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import isolated_home, markdown_table, median, spread, write_results

TARGET_S = 1.0


def one_decision(home: Path) -> float:
    from opscopilot.store import Store

    env = {**os.environ, "OPSCOPILOT_HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[1])}
    env = {k: v for k, v in env.items() if not k.endswith("_API_KEY")}
    with Store.open(home / "opscopilot.db") as store, store.watch_changes() as watch:
        owner = subprocess.Popen(
            [sys.executable, "-m", "opscopilot", "run", "restart nginx", "--wait", "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            requested = None
            while requested is None:
                if owner.poll() is not None:
                    raise RuntimeError("the owner exited before its turn paused")
                changes = watch.wait(timeout=1.0)
                requested = next((c for c in changes if c.kind == "approval.requested"), None)
            decided = store.decide_approval(
                requested.key,
                decision="denied",
                operator="bench",
                host=socket.gethostname(),
                reason="benchmark: never restart a real service",
                decided_at=time.time(),
                channel="cli",
            )
            if owner.wait(timeout=120) != 0:
                raise RuntimeError(f"the owner exited {owner.returncode}")
        finally:
            if owner.poll() is None:
                owner.kill()
        picked = [
            event
            for _, event in store.events(turn_id=requested.turn_id)
            if event.type == "approval.decided"
        ]
    if len(picked) != 1 or decided.decided_at is None:
        raise RuntimeError(f"expected one approval.decided event, saw {len(picked)}")
    return picked[0].ts - decided.decided_at


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    latencies: list[float] = []
    with isolated_home() as home:
        for _ in range(args.repeats):
            latencies.append(one_decision(home))
    worst = p95(latencies)
    rows = [
        [
            "decision committed → owner's turn continues (`run --wait`)",
            f"{median(latencies) * 1000:.0f} ms",
            f"{worst * 1000:.0f} ms",
            spread([v * 1000 for v in latencies]) + " ms",
            f"target p95 < {TARGET_S:g} s: {'met' if worst < TARGET_S else 'MISSED'}",
        ]
    ]
    print(f"\n### Decisions across processes ({args.repeats} decisions)\n")
    print(markdown_table(["measure", "median", "p95", "spread", "verdict"], rows))
    write_results("decisions", {"repeats": args.repeats, "latency_s": latencies})


if __name__ == "__main__":
    main()
