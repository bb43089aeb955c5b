"""Stream throughput: CPU microseconds per streamed event, ours against the peers, one run.

benchmarks/_server.py (its own process, so the CPU time measured here is the client's alone)
streams N chat-completion chunks over loopback. Each contender consumes the whole stream;
`time.process_time()` around that, divided by the events, is its cost per event. Repeats are
interleaved round-robin so drift on a shared machine hits every contender alike; we report
medians and the ratio peer / ours.

Usage: python benchmarks/bench_stream.py [--events 100000] [--repeats 5] [--peer-events 10000]
       [--only NAME,NAME] [--profile NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

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

TARGET_US = 6.0
MESSAGES = [{"role": "user", "content": "hi"}]


def _request():  # type: ignore[no-untyped-def]
    from opscopilot.llm.types import Message, Request

    return Request(model="bench", messages=[Message.user("hi")], max_tokens=200_000)


# --------------------------------------------------------------------------- contenders
# Each takes the server's base URL for its stream size and returns the text chunks it saw.


async def floor_httpx_sse(base: str) -> int:
    """The floor: raw httpx, our SSEDecoder, json.loads — no adapter, no event objects."""
    import httpx

    from opscopilot.llm.wire import SSEDecoder

    count = 0
    async with httpx.AsyncClient(timeout=60) as http:
        body = {"model": "bench", "messages": MESSAGES, "stream": True}
        async with http.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
            decoder = SSEDecoder()
            loads = json.loads
            async for chunk in response.aiter_raw():
                for event in decoder.feed(chunk):
                    if event.data == "[DONE]":
                        break
                    choices = loads(event.data)["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        count += 1
    return count


async def ours_openai(base: str) -> int:
    from opscopilot.llm.http import new_async_client
    from opscopilot.llm.providers import open_provider

    os.environ["OPENAI_BASE_URL"] = f"{base}/v1"
    count = 0
    async with new_async_client() as http:
        async for event in open_provider("openai", http).stream(_request()):
            if event.type == "text":
                count += 1
    return count


async def ours_anthropic(base: str) -> int:
    from opscopilot.llm.http import new_async_client
    from opscopilot.llm.providers import open_provider

    os.environ["ANTHROPIC_BASE_URL"] = base
    count = 0
    async with new_async_client() as http:
        async for event in open_provider("anthropic", http).stream(_request()):
            if event.type == "text":
                count += 1
    return count


async def ours_client(base: str) -> int:
    """The full path `opscopilot prompt` takes: LLMClient (retries, fallback) over the adapter."""
    from opscopilot.llm.client import LLMClient

    os.environ["OPENAI_BASE_URL"] = f"{base}/v1"
    count = 0
    async with LLMClient() as client:
        async for event in client.stream("openai:bench", _request()):
            if event.type == "text":
                count += 1
            elif event.type == "error":
                raise RuntimeError(f"LLMClient stream failed: {event.error}")
    return count


async def openai_sdk(base: str) -> int:
    from openai import AsyncOpenAI

    count = 0
    async with AsyncOpenAI(base_url=f"{base}/v1", api_key=BENCH_KEY, max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="bench",
            messages=MESSAGES,
            stream=True,  # type: ignore[arg-type]
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
    return count


async def anthropic_sdk(base: str) -> int:
    from anthropic import AsyncAnthropic

    count = 0
    async with AsyncAnthropic(base_url=base, api_key=BENCH_KEY, max_retries=0) as client:
        stream = await client.messages.create(
            model="bench",
            max_tokens=200_000,
            messages=MESSAGES,
            stream=True,  # type: ignore[arg-type]
        )
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                count += 1
    return count


async def litellm_acompletion(base: str) -> int:
    import litellm

    count = 0
    response = await litellm.acompletion(
        model="openai/bench",
        api_base=f"{base}/v1",
        api_key=BENCH_KEY,
        messages=MESSAGES,
        stream=True,
        max_retries=0,
    )
    async for chunk in response:
        if chunk.choices and chunk.choices[0].delta.content:
            count += 1
    return count


@dataclass
class Contender:
    name: str
    label: str
    run: Callable[[str], Awaitable[int]]
    peer: bool = False
    baseline: str = ""  # which of ours a peer is compared with
    cpu_us: list[float] = field(default_factory=list)
    wall_us: list[float] = field(default_factory=list)
    events: int = 0


CONTENDERS = [
    Contender("floor", "floor: httpx + SSEDecoder + json.loads", floor_httpx_sse),
    Contender("ours_openai", "ours: OpenAIProvider", ours_openai),
    Contender("ours_anthropic", "ours: AnthropicProvider", ours_anthropic),
    Contender("ours_client", "ours: LLMClient → OpenAIProvider", ours_client),
    Contender("openai_sdk", "openai SDK (AsyncOpenAI)", openai_sdk, True, "ours_openai"),
    Contender(
        "anthropic_sdk", "anthropic SDK (AsyncAnthropic)", anthropic_sdk, True, "ours_anthropic"
    ),
    Contender("litellm", "LiteLLM acompletion", litellm_acompletion, True, "ours_openai"),
]


def measure(contender: Contender, base: str, expected: int) -> tuple[float, float]:
    """One timed consumption of the whole stream: (CPU µs per event, wall µs per event)."""

    async def timed() -> tuple[float, float, int]:
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        count = await contender.run(base)
        return time.process_time() - cpu, time.perf_counter() - wall, count

    cpu_s, wall_s, count = asyncio.run(timed())
    if count != expected:
        raise RuntimeError(f"{contender.name} saw {count} text events, expected {expected}")
    return cpu_s / count * 1e6, wall_s / count * 1e6


def profile(contender: Contender, base: str, top: int = 25) -> str:
    """cProfile of one run, sorted by own time: where a contender's microseconds go."""
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(contender.run(base))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def quiet_peers() -> None:
    """No network for peers at import (LiteLLM fetches a price map), no telemetry."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    os.environ["OPENAI_API_KEY"] = BENCH_KEY
    os.environ["ANTHROPIC_API_KEY"] = BENCH_KEY
    for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "ANTHROPIC_AUTH_TOKEN"):
        os.environ.pop(name, None)


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU µs per streamed event, ours vs peers")
    parser.add_argument("--events", type=int, default=100_000, help="stream size for ours")
    parser.add_argument(
        "--peer-events", type=int, default=20_000, help="stream size for the openai/anthropic SDKs"
    )
    parser.add_argument(
        "--litellm-events",
        type=int,
        default=5_000,
        help="stream size for LiteLLM (hundreds of µs per event)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated contender names")
    parser.add_argument("--profile", default="", help="print a cProfile of this contender")
    args = parser.parse_args()

    quiet_peers()
    chosen = [c for c in CONTENDERS if not args.only or c.name in args.only.split(",")]
    sizes = {c.name: args.events for c in chosen}
    for c in chosen:
        if c.name in ("openai_sdk", "anthropic_sdk"):
            sizes[c.name] = args.peer_events
        elif c.name == "litellm":
            sizes[c.name] = args.litellm_events
    extra_sizes = sorted({s for s in sizes.values() if s != args.events} | {200})
    with (
        isolated_home(),
        server_process(args.events, "--sizes", ",".join(map(str, extra_sizes))) as url,
    ):

        def base_for(size: int) -> str:
            return url if size == args.events else f"{url}/n/{size}"

        if args.profile:
            target = next(c for c in CONTENDERS if c.name == args.profile)
            print(profile(target, base_for(sizes.get(target.name, args.events))))
            return
        for contender in chosen:  # warm-up: imports, first connection, lazy tables
            measure(contender, base_for(200), 200)
        for repeat in range(args.repeats):
            for contender in chosen:
                size = sizes[contender.name]
                cpu_us, wall_us = measure(contender, base_for(size), size)
                contender.cpu_us.append(cpu_us)
                contender.wall_us.append(wall_us)
                contender.events = size
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    by_name = {c.name: c for c in chosen}
    rows, results = [], []
    for c in chosen:
        cpu = median(c.cpu_us)
        ours = by_name.get(c.baseline)
        ratio = cpu / median(ours.cpu_us) if ours is not None else None
        versus = f"{ratio:.1f}× {ours.label.removeprefix('ours: ')}" if ours and ratio else "—"
        rows.append(
            [
                c.label,
                f"{c.events:,}",
                f"{cpu:.2f}",
                spread(c.cpu_us),
                f"{median(c.wall_us):.2f}",
                versus,
            ]
        )
        results.append(
            {
                "name": c.name,
                "label": c.label,
                "events": c.events,
                "cpu_us_per_event": c.cpu_us,
                "wall_us_per_event": c.wall_us,
                "median_cpu_us": cpu,
                "ratio_peer_over_ours": ratio,
            }
        )
    floor = by_name.get("floor")
    table = markdown_table(
        [
            "contender",
            "events",
            "CPU µs/event (median)",
            "min–max",
            "wall µs/event",
            "peer / ours (CPU)",
        ],
        rows,
    )
    verdicts = []
    for name in ("ours_openai", "ours_anthropic", "ours_client"):
        if name in by_name:
            value = median(by_name[name].cpu_us)
            note = f" ({value / median(floor.cpu_us):.1f}× the floor)" if floor else ""
            verdicts.append(
                f"- {by_name[name].label}: {value:.2f} µs/event, target ≤ "
                f"{TARGET_US:g}: {'met' if value <= TARGET_US else 'MISSED'}{note}"
            )
    path = write_results(
        "stream",
        {"repeats": args.repeats, "target_us": TARGET_US, "contenders": results, "table": table},
    )
    print(f"\n### Stream throughput ({args.repeats} repeats, medians)\n\n{table}\n")
    print("\n".join(verdicts))
    print(f"\nresults: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
