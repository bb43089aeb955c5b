"""Persistence and the runtime's streaming path: events per second into SQLite, and the latency
a streamed token gains between the adapter and an EventBus subscriber.

1. Store.append_event + flush alone, against a naive writer that commits every event
   (same connect(): WAL, busy timeout) — events/s and what one append costs the streamer.
2. The same appends while our OpenAIProvider streams from benchmarks/_server.py (its own
   process): events/s end to end, and CPU µs per event added on top of the bare stream.
3. Through the real Runtime (LLMClient, Governor, journal, snapshots, Store, EventBus):
   a paced stream (one chunk per network write) where each text delta is stamped when the
   adapter yields it and again when its ModelText event reaches a bus subscriber (target
   < 50 µs), and a block stream for the CPU a token costs end to end.

Usage: python benchmarks/bench_store.py [--events 50000] [--repeats 3] [--paced 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BENCH_KEY,
    isolated_home,
    markdown_table,
    median,
    server_process,
    spread,
    write_results,
)

LATENCY_TARGET_US = 50.0


def model_texts(n: int, session_id: str = "s-bench", turn_id: str = "t-bench") -> list[Any]:
    from opscopilot.events import ModelText

    now = time.time()
    return [
        ModelText(
            ts=now, session_id=session_id, turn_id=turn_id, call_id="c-bench", text=f"tok{i % 97} "
        )
        for i in range(n)
    ]


def open_store(home: Path, name: str) -> Any:
    from opscopilot.store import Store

    return Store.open(home / f"{name}.db")


# --------------------------------------------------------------------------- 1. appends alone


def store_appends(home: Path, n: int, tag: str) -> dict[str, float]:
    """Append n events and flush: events/s overall, and µs the caller spends per append."""
    events = model_texts(n)
    store = open_store(home, f"append-{tag}")
    try:
        gc.collect()
        started = time.perf_counter()
        for event in events:
            store.append_event(event)
        queued = time.perf_counter()
        store.flush()
        durable = time.perf_counter()
        stored = len(store.events(turn_id="t-bench"))
    finally:
        store.close()
    if stored != n:
        raise RuntimeError(f"the store kept {stored} of {n} events")
    return {"events_per_s": n / (durable - started), "append_us": (queued - started) / n * 1e6}


def naive_appends(home: Path, n: int, tag: str) -> dict[str, float]:
    """The naive way: one INSERT and one COMMIT per event, on the same kind of connection."""
    from opscopilot.store import db

    events = model_texts(n)
    database = db.connect(home / f"naive-{tag}.db")
    conn = database.conn
    conn.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, ts REAL, session_id TEXT, "
        "turn_id TEXT, type TEXT, data TEXT)"
    )
    conn.commit()
    gc.collect()
    started = time.perf_counter()
    for event in events:
        conn.execute(
            "INSERT INTO events (ts, session_id, turn_id, type, data) VALUES (?,?,?,?,?)",
            (event.ts, event.session_id, event.turn_id, event.type, event.model_dump_json()),
        )
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return {"events_per_s": n / elapsed, "append_us": elapsed / n * 1e6}


# --------------------------------------------------------------------------- 2. while streaming


def _request() -> Any:
    from opscopilot.llm.types import Message, Request

    return Request(model="bench", messages=[Message.user("hi")], max_tokens=200_000)


async def stream_into(base: str, store: Any | None) -> tuple[int, float, float]:
    """Stream through OpenAIProvider, appending a ModelText per delta when a store is given."""
    from opscopilot.events import ModelText
    from opscopilot.llm.http import new_async_client
    from opscopilot.llm.providers import open_provider

    os.environ["OPENAI_BASE_URL"] = f"{base}/v1"
    count = 0
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    async with new_async_client() as http:
        async for event in open_provider("openai", http).stream(_request()):
            if event.type == "text":
                count += 1
                if store is not None:
                    store.append_event(
                        ModelText(
                            ts=time.time(),
                            session_id="s-bench",
                            turn_id="t-bench",
                            call_id="c-bench",
                            text=event.text,
                        )
                    )
    if store is not None:
        store.flush()
    return count, time.process_time() - cpu, time.perf_counter() - wall


# --------------------------------------------------------------------------- 3. the runtime


class StampingProvider:
    """Our real adapter, with a perf_counter stamp taken as it yields each text delta."""

    def __init__(self, inner: Any, stamps: list[float]) -> None:
        self._inner = inner
        self._stamps = stamps
        self.name = inner.name

    async def stream(self, request: Any) -> AsyncIterator[Any]:
        clock = time.perf_counter
        async for event in self._inner.stream(request):
            if event.type == "text":
                self._stamps.append(clock())
            yield event


async def runtime_turn(home: Path, base: str, tag: str) -> dict[str, Any]:
    """One real Runtime turn; returns adapter stamps, subscriber stamps, CPU, and the outcome."""
    import anyio

    from opscopilot.llm.client import LLMClient
    from opscopilot.llm.providers import open_provider
    from opscopilot.runtime import EventBus, Runtime

    os.environ["OPENAI_BASE_URL"] = f"{base}/v1"
    yielded: list[float] = []
    received: list[float] = []

    def factory(name: str, http: Any) -> Any:
        return StampingProvider(open_provider(name, http), yielded)

    store = open_store(home, f"runtime-{tag}")
    bus = EventBus()
    subscription = bus.subscribe(buffer=1_000_000)
    runtime = Runtime(store, bus=bus, client=LLMClient(provider_factory=factory))
    outcome: Any = None

    async def listen() -> None:
        clock = time.perf_counter
        async for event in subscription:
            if event.type == "model.text":
                received.append(clock())
            elif event.type == "turn.finished":
                return

    async def drive() -> None:
        nonlocal outcome
        outcome = await runtime.start_turn(
            None, "hi", model="openai:bench", approve_mode="read-only"
        )

    try:
        gc.collect()
        cpu = time.process_time()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(listen)
            await drive()
        cpu = time.process_time() - cpu
        store.flush()
    finally:
        subscription.close()
        await runtime.aclose()
        store.close()
    if outcome.status != "completed":
        raise RuntimeError(f"the benchmark turn ended {outcome.status}: {outcome.error}")
    if len(received) != len(yielded):
        raise RuntimeError(f"{len(yielded)} deltas yielded, {len(received)} reached the bus")
    return {"yielded": yielded, "received": received, "cpu_s": cpu}


async def bus_floor(n: int) -> list[float]:
    """The floor for the latency above: publish straight to an EventBus, then yield to the
    loop once, as a streaming producer does between network reads; µs until the subscriber
    holds the event."""
    import anyio

    from opscopilot.runtime import EventBus

    bus = EventBus()
    subscription = bus.subscribe(buffer=n + 10)
    events = model_texts(n)
    sent: list[float] = []
    received: list[float] = []

    async def listen() -> None:
        clock = time.perf_counter
        async for _event in subscription:
            received.append(clock())
            if len(received) == n:
                return

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listen)
        await anyio.sleep(0.01)  # the subscriber is waiting before the first event
        clock = time.perf_counter
        for event in events:
            sent.append(clock())
            bus.publish(event)
            await anyio.sleep(0)
    subscription.close()
    return [(got - put) * 1e6 for put, got in zip(sent, received, strict=True)]


async def adapter_bus_floor(base: str) -> list[float]:
    """The same paced stream with no runtime: our adapter's deltas published straight to an
    EventBus. What is left is the network read the producer makes before a subscriber runs."""
    import anyio

    from opscopilot.events import ModelText
    from opscopilot.llm.http import new_async_client
    from opscopilot.llm.providers import open_provider
    from opscopilot.runtime import EventBus

    os.environ["OPENAI_BASE_URL"] = f"{base}/v1"
    bus = EventBus()
    subscription = bus.subscribe(buffer=1_000_000)
    yielded: list[float] = []
    received: list[float] = []

    async def listen() -> None:
        clock = time.perf_counter
        async for event in subscription:
            if event.type == "turn.finished":
                return
            received.append(clock())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listen)
        async with new_async_client() as http:
            provider = StampingProvider(open_provider("openai", http), yielded)
            async for event in provider.stream(_request()):
                if event.type == "text":
                    bus.publish(
                        ModelText(
                            ts=time.time(),
                            session_id="s-bench",
                            turn_id="t-bench",
                            call_id="c-bench",
                            text=event.text,
                        )
                    )
        from opscopilot.events import TurnFinished

        bus.publish(TurnFinished(ts=time.time(), status="completed"))
    subscription.close()
    return [(got - put) * 1e6 for put, got in zip(yielded, received, strict=True)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def profile_runtime(n: int, top: int = 30) -> None:
    """Where a runtime turn's per-token microseconds go, by own time."""
    import cProfile
    import pstats

    os.environ["OPENAI_API_KEY"] = BENCH_KEY
    with isolated_home() as home, server_process(n) as url:
        asyncio.run(runtime_turn(home, url, "warm"))
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(runtime_turn(home, url, "profiled"))
        profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description="events/s into SQLite; token latency to the bus")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--naive-events", type=int, default=2_000)
    parser.add_argument("--runtime-events", type=int, default=20_000)
    parser.add_argument("--paced", type=int, default=2_000, help="tokens in the paced stream")
    parser.add_argument("--paced-delay-ms", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a cProfile of one runtime turn (block stream) and stop",
    )
    args = parser.parse_args()
    if args.profile:
        profile_runtime(args.runtime_events)
        return

    os.environ["OPENAI_API_KEY"] = BENCH_KEY
    n = args.events
    appends: list[dict[str, float]] = []
    naive: list[dict[str, float]] = []
    bare_cpu: list[float] = []
    stored_cpu: list[float] = []
    stored_rate: list[float] = []
    latencies: list[float] = []
    floor_latencies: list[float] = []
    adapter_latencies: list[float] = []
    runtime_cpu: list[float] = []
    adapter_cpu: list[float] = []
    extra = ["--sizes", str(args.runtime_events), "--paced", f"{args.paced}:{args.paced_delay_ms}"]
    with isolated_home() as home, server_process(n, *extra) as url:
        small = f"{url}/n/{args.runtime_events}"
        asyncio.run(stream_into(small, None))  # warm-up: imports, first connection
        asyncio.run(runtime_turn(home, small, "warm"))
        for repeat in range(args.repeats):
            appends.append(store_appends(home, n, str(repeat)))
            naive.append(naive_appends(home, args.naive_events, str(repeat)))
            count, cpu, _ = asyncio.run(stream_into(url, None))
            bare_cpu.append(cpu / count * 1e6)
            store = open_store(home, f"stream-{repeat}")
            try:
                count, cpu, wall = asyncio.run(stream_into(url, store))
                if len(store.events(turn_id="t-bench")) != count:
                    raise RuntimeError("events were lost while streaming")
            finally:
                store.close()
            stored_cpu.append(cpu / count * 1e6)
            stored_rate.append(count / wall)
            paced = asyncio.run(runtime_turn(home, f"{url}/paced", f"paced-{repeat}"))
            latencies += [
                (got - sent) * 1e6
                for sent, got in zip(paced["yielded"], paced["received"], strict=True)
            ]
            floor_latencies += asyncio.run(bus_floor(args.paced))
            adapter_latencies += asyncio.run(adapter_bus_floor(f"{url}/paced"))
            count, cpu, _ = asyncio.run(stream_into(small, None))
            adapter_cpu.append(cpu / count * 1e6)
            turn = asyncio.run(runtime_turn(home, small, f"block-{repeat}"))
            runtime_cpu.append(turn["cpu_s"] / len(turn["yielded"]) * 1e6)
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    rates = [a["events_per_s"] for a in appends]
    naive_rates = [a["events_per_s"] for a in naive]
    latency_median = statistics.median(latencies)
    added_median = latency_median - statistics.median(adapter_latencies)
    rows = [
        [
            "Store.append_event + flush (batched writer thread)",
            f"{n:,}",
            f"{median(rates):,.0f} events/s",
            spread(rates),
            f"{median([a['append_us'] for a in appends]):.1f} µs per append (caller)",
        ],
        [
            "naive: INSERT + COMMIT per event (same connect())",
            f"{args.naive_events:,}",
            f"{median(naive_rates):,.0f} events/s",
            spread(naive_rates),
            f"ours is {median(rates) / median(naive_rates):.0f}× faster",
        ],
        [
            "OpenAIProvider stream → append_event → flush",
            f"{n:,}",
            f"{median(stored_rate):,.0f} events/s",
            spread(stored_rate),
            f"+{median(stored_cpu) - median(bare_cpu):.1f} CPU µs/event over the bare stream "
            f"({median(bare_cpu):.1f} → {median(stored_cpu):.1f})",
        ],
        [
            "Runtime turn: adapter yield → bus subscriber (paced)",
            f"{len(latencies):,}",
            f"median {latency_median:.0f} µs",
            f"p90 {percentile(latencies, 0.9):.0f} µs, p99 {percentile(latencies, 0.99):.0f} µs",
            f"added by the runtime (over the no-runtime floor below): {added_median:.0f} µs — "
            f"target < {LATENCY_TARGET_US:g} µs added: "
            f"{'met' if added_median < LATENCY_TARGET_US else 'MISSED'}",
        ],
        [
            "floor: adapter → EventBus directly, no runtime (paced)",
            f"{len(adapter_latencies):,}",
            f"median {statistics.median(adapter_latencies):.0f} µs",
            f"p90 {percentile(adapter_latencies, 0.9):.0f} µs, "
            f"p99 {percentile(adapter_latencies, 0.99):.0f} µs",
            "the producer's next network read comes first",
        ],
        [
            "floor: EventBus.publish → subscriber, one loop pass",
            f"{len(floor_latencies):,}",
            f"median {statistics.median(floor_latencies):.0f} µs",
            f"p90 {percentile(floor_latencies, 0.9):.0f} µs, "
            f"p99 {percentile(floor_latencies, 0.99):.0f} µs",
            "what any in-process subscriber pays",
        ],
        [
            "Runtime turn, CPU per token (block stream)",
            f"{args.runtime_events:,}",
            f"{median(runtime_cpu):.1f} µs/token",
            spread(runtime_cpu),
            f"+{median(runtime_cpu) - median(adapter_cpu):.1f} µs over the adapter alone "
            f"({median(adapter_cpu):.1f})",
        ],
    ]
    table = markdown_table(["measure", "events", "median", "spread", "note"], rows)
    path = write_results(
        "store",
        {
            "repeats": args.repeats,
            "latency_target_us": LATENCY_TARGET_US,
            "store_appends": appends,
            "naive_appends": naive,
            "bare_stream_cpu_us": bare_cpu,
            "stream_with_store_cpu_us": stored_cpu,
            "stream_with_store_events_per_s": stored_rate,
            "runtime_latency_us": {
                "median": latency_median,
                "p90": percentile(latencies, 0.9),
                "p99": percentile(latencies, 0.99),
                "samples": len(latencies),
            },
            "runtime_added_latency_us": added_median,
            "adapter_bus_latency_us": {
                "median": statistics.median(adapter_latencies),
                "p90": percentile(adapter_latencies, 0.9),
                "p99": percentile(adapter_latencies, 0.99),
            },
            "bus_floor_latency_us": {
                "median": statistics.median(floor_latencies),
                "p90": percentile(floor_latencies, 0.9),
                "p99": percentile(floor_latencies, 0.99),
            },
            "runtime_cpu_us_per_token": runtime_cpu,
            "adapter_cpu_us_per_token": adapter_cpu,
            "table": table,
        },
    )
    print(f"\n### Store and runtime ({args.repeats} repeats, medians)\n\n{table}\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
