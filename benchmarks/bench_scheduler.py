"""The queue every model call passes: what a slot costs, and how much of a fixed-latency
server's capacity a batch of calls gets through the full governed path.

1. Overhead per call: µs to acquire and release a slot of our `Scheduler` — uncontended, and
   contended (many tasks, few slots, a checkpoint inside each slot) — against a bare
   `anyio.CapacityLimiter` and `asyncio.Semaphore` (the floors any queue pays).
2. Batch throughput: N calls at concurrency C against a loopback server (its own process)
   whose every response takes a fixed time L (time to first token, then paced tokens; the
   OpenAI SSE format). Ideal is C / L calls per second. Contenders, in one run, interleaved:
   our full path (`governed_client`: LLMClient → GovernedProvider → preflight, scheduler
   slot, stream guard, SQLite ledger → OpenAIProvider), LLMClient alone under an
   asyncio.Semaphore, and the peer a user would write: asyncio.Semaphore + httpx + json.

Usage: python benchmarks/bench_scheduler.py [--calls 240] [--concurrency 8,16] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BENCH_KEY,
    child_server,
    isolated_home,
    markdown_table,
    median,
    spread,
    write_results,
)

THROUGHPUT_TARGET = 0.90  # of the ideal C / L
MODEL = "gpt-4o-mini"  # priced in the catalog, so the guard really prices every call
TOKENS = 10  # content chunks per response


# --------------------------------------------------------------------------- the server


def paced_body(latency_s: float, tokens: int) -> Iterator[bytes]:
    """One response that takes `latency_s` in all: 40 % before the first token, the rest
    between the tokens; the finish, usage and [DONE] go out with the last token and the end
    of the chunked body right after, so the connection can be reused at once."""
    from benchmarks._server import openai_events

    parts = openai_events(tokens)
    started = time.perf_counter()
    first_wait = latency_s * 0.4
    gap = (latency_s - first_wait) / max(tokens - 1, 1)
    for i in range(tokens):
        # Deadlines from the start, so one late wake-up is not added to every later one.
        time.sleep(max(started + first_wait + i * gap - time.perf_counter(), 0.0))
        yield (parts[i] if i < tokens - 1 else "".join(parts[i:])).encode()


def serve(latency_ms: float, tokens: int) -> None:
    """Serve fixed-latency OpenAI streams at /v1/chat/completions until stdin closes."""
    from benchmarks._server import quiet_resets
    from tests.support.wire_server import Reply, WireServer

    server = WireServer()
    quiet_resets(server)
    # socketserver listens with a backlog of 5: a burst of connects would wait out SYN retries.
    server._httpd.socket.listen(512)
    latency_s = latency_ms / 1000

    def reply(request: Any) -> Reply:
        # The generator's sleeps run in this request's server thread, as it writes.
        return Reply(body=paced_body(latency_s, tokens), pieces=None)

    server.handle("/v1/chat/completions", reply)
    server.start()
    print(server.url, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


def latency_server(latency_ms: float, tokens: int):
    """This script in --serve mode, in its own process, so its threads never share our GIL."""
    return child_server(
        [sys.executable, __file__, "--serve", str(latency_ms), "--tokens", str(tokens)],
        what="latency server",
    )


# --------------------------------------------------------------------------- 1. overhead


def limiter_floor(limit: int) -> Callable[[], Any]:
    import anyio

    limiter = anyio.CapacityLimiter(limit)
    return lambda: limiter


def semaphore_floor(limit: int) -> Callable[[], Any]:
    semaphore = asyncio.Semaphore(limit)
    return lambda: semaphore


def scheduler_slot(limit: int) -> Callable[[], Any]:
    from opscopilot.governance import Scheduler

    scheduler = Scheduler(limit, max_queue=10_000)
    return lambda: scheduler.slot("openai", "batch")


SLOTS: dict[str, tuple[str, Callable[[int], Callable[[], Any]]]] = {
    "limiter": ("floor: anyio.CapacityLimiter", limiter_floor),
    "semaphore": ("floor: asyncio.Semaphore", semaphore_floor),
    "scheduler": ("ours: Scheduler.slot(provider, 'batch')", scheduler_slot),
}


async def uncontended(make: Callable[[int], Callable[[], Any]], rounds: int) -> float:
    """µs per acquire + release with nobody else waiting."""
    slot = make(1)
    gc.collect()
    started = time.perf_counter()
    for _ in range(rounds):
        async with slot():
            pass
    return (time.perf_counter() - started) / rounds * 1e6


async def contended(
    make: Callable[[int], Callable[[], Any]],
    rounds: int,
    tasks: int,
    limit: int,
    checkpoint_us: float,
) -> float:
    """µs per acquire + release when `tasks` tasks share `limit` slots; each holder yields once
    inside its slot (so the others really queue), and that one checkpoint's cost is taken off."""
    slot = make(limit)
    per_task = rounds // tasks

    async def worker() -> None:
        for _ in range(per_task):
            async with slot():
                await asyncio.sleep(0)

    gc.collect()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    return elapsed / (per_task * tasks) * 1e6 - checkpoint_us


async def checkpoint_cost(rounds: int, tasks: int) -> float:
    """µs per `asyncio.sleep(0)` with `tasks` tasks taking turns: the contended test's base."""
    per_task = rounds // tasks

    async def worker() -> None:
        for _ in range(per_task):
            await asyncio.sleep(0)

    gc.collect()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return (time.perf_counter() - started) / (per_task * tasks) * 1e6


# --------------------------------------------------------------------------- 2. throughput


def _request() -> Any:
    from opscopilot.llm.types import Message, Request

    return Request(
        model=MODEL, messages=[Message.user("why is the gateway returning 5xx?")], max_tokens=256
    )


async def run_ours(calls: int, concurrency: int, home: Path, tag: str) -> dict[str, Any]:
    """Every call through governed_client: preflight, a Scheduler slot, the guard, the ledger."""
    from opscopilot.governance import Caps, Governor, Ledger, Scheduler
    from opscopilot.governance.wiring import governed_client
    from opscopilot.llm.http import new_async_client

    ledger = Ledger(home / f"ledger-{tag}.db")
    scheduler = Scheduler(concurrency, max_queue=calls)
    # A day cap far above what the run spends: the guard prices every event and checks it.
    governor = Governor(ledger, Caps(per_day=1_000.0), scheduler)
    request = _request()
    async with new_async_client() as http:
        client = governed_client(
            governor, http=http, priority="batch", session_id=f"s-{tag}", turn_id=f"t-{tag}"
        )

        async def one() -> str:
            response = await client.complete(f"openai:{MODEL}", request)
            if response.error is not None:
                raise RuntimeError(f"a governed call failed: {response.error}")
            return response.text

        gc.collect()
        started = time.perf_counter()
        texts = await asyncio.gather(*(one() for _ in range(calls)))
        elapsed = time.perf_counter() - started
    recorded = len(ledger.calls())
    ledger.close()
    if recorded != calls:
        raise RuntimeError(f"the ledger holds {recorded} of {calls} calls")
    return {"elapsed": elapsed, "texts": texts}


async def run_client(calls: int, concurrency: int) -> dict[str, Any]:
    """LLMClient (retries, fallback, OpenAIProvider), no governance, under a plain Semaphore."""
    from opscopilot.llm.client import LLMClient
    from opscopilot.llm.http import new_async_client

    request = _request()
    gate = asyncio.Semaphore(concurrency)
    async with new_async_client() as http:
        client = LLMClient(http=http)

        async def one() -> str:
            async with gate:
                response = await client.complete(f"openai:{MODEL}", request)
            if response.error is not None:
                raise RuntimeError(f"a call failed: {response.error}")
            return response.text

        gc.collect()
        started = time.perf_counter()
        texts = await asyncio.gather(*(one() for _ in range(calls)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "texts": texts}


async def run_peer(calls: int, concurrency: int, base: str) -> dict[str, Any]:
    """What a user writes instead: asyncio.Semaphore + httpx streaming POST + json per line."""
    import httpx

    payload = {
        "model": MODEL,
        "stream": True,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "why is the gateway returning 5xx?"}],
    }
    headers = {"authorization": f"Bearer {BENCH_KEY}"}
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as http:

        async def one() -> str:
            text = []
            async with (
                gate,
                http.stream(
                    "POST", f"{base}/v1/chat/completions", json=payload, headers=headers
                ) as response,
            ):
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    for choice in chunk.get("choices", []):
                        text.append(choice["delta"].get("content") or "")
            return "".join(text)

        gc.collect()
        started = time.perf_counter()
        texts = await asyncio.gather(*(one() for _ in range(calls)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "texts": texts}


THROUGHPUT = {
    "ours": "ours: governed_client (preflight, slot, guard, ledger)",
    "client": "ours without governance: LLMClient + asyncio.Semaphore",
    "peer": "peer: asyncio.Semaphore + httpx + json.loads",
}


def expected_text(tokens: int) -> str:
    return "".join(f"tok{i % 97} " for i in range(tokens))


def measure_throughput(
    name: str, calls: int, concurrency: int, base: str, home: Path, tag: str
) -> float:
    """Calls per second for one contender; every call must have streamed the whole answer."""
    if name == "ours":
        result = asyncio.run(run_ours(calls, concurrency, home, tag))
    elif name == "client":
        result = asyncio.run(run_client(calls, concurrency))
    else:
        result = asyncio.run(run_peer(calls, concurrency, base))
    want = expected_text(TOKENS)
    wrong = sum(1 for text in result["texts"] if text != want)
    if wrong:
        raise RuntimeError(f"{name}: {wrong} of {calls} calls streamed a different answer")
    return calls / result["elapsed"]


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description="scheduler overhead and batch throughput")
    parser.add_argument(
        "--serve", type=float, default=None, metavar="LATENCY_MS", help=argparse.SUPPRESS
    )  # internal: run the fixed-latency server
    parser.add_argument("--tokens", type=int, default=TOKENS, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=20_000, help="acquires per overhead run")
    parser.add_argument("--tasks", type=int, default=32, help="tasks in the contended run")
    parser.add_argument("--slots", type=int, default=4, help="slots in the contended run")
    parser.add_argument(
        "--calls",
        type=int,
        default=240,
        help="N calls per run at the smallest C (scaled up with C)",
    )
    # C=8 is the default [scheduler] max_concurrency. At C=32 the loopback server and client
    # share 2 cores and even the peer reaches only ~50 % of C/L: that measures the machine.
    parser.add_argument("--concurrency", default="8,16", help="C values, comma-separated")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="L: each response's time")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.tokens)
        return

    os.environ["OPENAI_API_KEY"] = BENCH_KEY
    overhead: dict[str, dict[str, list[float]]] = {
        key: {"uncontended": [], "contended": []} for key in SLOTS
    }
    checkpoints: list[float] = []
    for repeat in range(args.repeats):
        checkpoint = asyncio.run(checkpoint_cost(args.rounds, args.tasks))
        checkpoints.append(checkpoint)
        for key, (_, make) in SLOTS.items():
            overhead[key]["uncontended"].append(asyncio.run(uncontended(make, args.rounds)))
            overhead[key]["contended"].append(
                asyncio.run(contended(make, args.rounds, args.tasks, args.slots, checkpoint))
            )
        print(f"overhead repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    levels = [int(c) for c in args.concurrency.split(",") if c]
    rates: dict[int, dict[str, list[float]]] = {c: {k: [] for k in THROUGHPUT} for c in levels}
    with isolated_home() as home, latency_server(args.latency_ms, TOKENS) as url:
        os.environ["OPENAI_BASE_URL"] = f"{url}/v1"
        for name in THROUGHPUT:  # warm-up: imports, catalog, first connections
            measure_throughput(name, 16, 8, url, home, f"warm-{name}")
        for repeat in range(args.repeats):
            for c in levels:
                calls = max(args.calls, 4 * c) * (c // min(levels))
                for name in THROUGHPUT:  # interleaved, so they meet the same noise
                    rates[c][name].append(
                        measure_throughput(name, calls, c, url, home, f"{c}-{repeat}-{name}")
                    )
            print(
                f"throughput repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True
            )

    floor_us = median(overhead["limiter"]["uncontended"])
    floor_contended = median(overhead["limiter"]["contended"])
    overhead_rows = []
    for key, (label, _) in SLOTS.items():
        un, co = overhead[key]["uncontended"], overhead[key]["contended"]
        overhead_rows.append(
            [
                label,
                f"{median(un):.2f}",
                spread(un),
                f"{median(co):.2f}",
                spread(co),
                "—"
                if key == "limiter"
                else f"{median(un) / floor_us:.1f}× / {median(co) / floor_contended:.1f}×",
            ]
        )
    overhead_table = markdown_table(
        [
            "contender",
            "uncontended µs",
            "min–max",
            f"contended µs ({args.tasks} tasks, {args.slots} slots)",
            "min–max",
            "vs CapacityLimiter (un / contended)",
        ],
        overhead_rows,
    )

    throughput_rows = []
    verdicts = []
    for c in levels:
        ideal = c / (args.latency_ms / 1000)
        calls = max(args.calls, 4 * c) * (c // min(levels))
        peer = median(rates[c]["peer"])
        for name, label in THROUGHPUT.items():
            values = rates[c][name]
            rate = median(values)
            throughput_rows.append(
                [
                    label,
                    c,
                    calls,
                    f"{rate:,.1f}",
                    spread(values),
                    f"{rate / ideal:.1%}",
                    "—" if name == "peer" else f"{rate / peer:.2f}×",
                ]
            )
        ours = median(rates[c]["ours"])
        verdicts.append(
            f"- C={c}: governed path {ours:,.1f} calls/s = {ours / ideal:.1%} of the ideal "
            f"{ideal:,.0f}/s, target ≥ {THROUGHPUT_TARGET:.0%}: "
            f"{'met' if ours / ideal >= THROUGHPUT_TARGET else 'MISSED'} "
            f"(peer reaches {peer / ideal:.1%})"
        )
    throughput_table = markdown_table(
        ["contender", "C", "calls", "calls/s (median)", "min–max", "of ideal C/L", "vs peer"],
        throughput_rows,
    )

    path = write_results(
        "scheduler",
        {
            "repeats": args.repeats,
            "rounds": args.rounds,
            "tasks": args.tasks,
            "slots": args.slots,
            "latency_ms": args.latency_ms,
            "tokens_per_response": TOKENS,
            "throughput_target": THROUGHPUT_TARGET,
            "checkpoint_us": checkpoints,
            "overhead_us": overhead,
            "throughput_calls_per_s": {str(c): rates[c] for c in levels},
            "table": overhead_table + "\n\n" + throughput_table,
        },
    )
    print(
        f"\n### Scheduler overhead ({args.repeats} repeats, medians of {args.rounds:,} "
        f"acquires)\n\n{overhead_table}\n"
    )
    print(
        f"### Batch throughput, L = {args.latency_ms:g} ms per response "
        f"({args.repeats} repeats, medians)\n\n{throughput_table}\n"
    )
    print("\n".join(verdicts) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
