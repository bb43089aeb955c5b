"""The TUI under load: how fast a pane takes a streamed answer, how quickly a key shows on
screen while it streams, and how long `opscopilot tui` takes to draw its first frame.

Frames are what a terminal would receive: the app runs under `run_test()` with a driver that
is headless for input but lets Textual render every frame to ANSI, as it would for a real
terminal, and stamps each write. "On screen" means a frame carrying that text was written.

1. Streaming: a Markdown answer of N word-sized tokens (headings, lists, code — a model's
   shape) fed as fast as the receiver takes them; time from the first token until a frame
   shows the last one. Ours: ModelText events through `OpsCopilotApp.ingest` (the real app,
   the real RuntimeEngine and store). Peers in a bare app: one `Markdown` fed through
   `MarkdownStream` (what Textual recommends), and one `Markdown` re-rendered per token with
   `update(full_text)` (the naive way; O(n²), so it gets a shorter prefix).
2. Key latency: while the real bus streams to the app at a fast model's pace, F1 (help) is
   pressed repeatedly; time from the key event to the first frame showing the help screen.
3. First frame: `opscopilot tui` spawned under a pseudo-terminal, time until its output holds
   the first drawn frame; the peer is a minimal Textual hello-world app, measured the same way.

Usage: python benchmarks/bench_tui.py [--tokens 5000] [--short-tokens 300] [--huge-tokens 50000]
       [--presses 12] [--key-stream-rate 50] [--fast-key-stream-rate 2000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import gc
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    console_script,
    isolated_home,
    markdown_table,
    median,
    spread,
    write_results,
)

STREAM_TARGET_TOKENS_PER_S = 5_000.0
KEY_TARGET_MS = 50.0
FIRST_FRAME_TARGET_MS = 1_000.0
SIZE = (120, 40)
END_MARKER = "ENDOFSTREAM7Q"
BUS_BATCH = 200  # events published per turn of the loop (the bus keeps 10,000 per subscriber)
HELP_MARKER = "opscopilot keys"  # the help screen's table title
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)

SECTION = """## {k}. Gateway 5xx: upstream `api-{k}`

The gateway returned **502** for 3.{k}% of requests in the last hour. Upstream `api-{k}` closed
connections after 30 s, which matches the proxy's `proxy_read_timeout`, so the errors start
when a slow query holds a worker past it.

- `systemctl status nginx`: active (running), 4 workers, up 12 days
- p99 latency: 812 ms (it was 140 ms yesterday at the same hour)
- most frequent error: `upstream prematurely closed connection while reading response header`

```sh
journalctl -u nginx -n 50 --no-pager | grep -c 'upstream prematurely'
curl -sS -o /dev/null -w '%{{http_code}} %{{time_total}}\\n' http://127.0.0.1:8080/health
```

Next, compare the slow-query log with the error times; if they line up, raise the timeout
for `/reports` only, or move that endpoint to the batch queue.

"""


def answer_tokens(n: int) -> list[str]:
    """n word-sized tokens (whitespace leading, as models send them); the last is the marker."""
    tokens: list[str] = []
    k = 1
    while len(tokens) < n - 1:
        tokens += re.findall(r"\s*\S+|\s+", SECTION.format(k=k))
        k += 1
    return [*tokens[: n - 1], f"\n\nAll checks done: {END_MARKER}"]


# --------------------------------------------------------------------------- frames


def frame_driver() -> type:
    """A HeadlessDriver (no terminal input) through which Textual still renders every frame."""
    from textual.drivers.headless_driver import HeadlessDriver

    class FrameRecorder(HeadlessDriver):
        frames: list[tuple[float, str]]

        @property
        def is_headless(self) -> bool:
            return False  # so App._display renders the frame to ANSI, as for a real terminal

        def write(self, data: str) -> None:
            if not hasattr(self, "frames"):
                self.frames = []
            self.frames.append((time.perf_counter(), data))

    return FrameRecorder


def frames_of(app: Any) -> list[tuple[float, str]]:
    return getattr(app._driver, "frames", [])


async def until_frame(
    app: Any, text: str, *, after: int = 0, timeout_s: float = 60.0, absent: bool = False
) -> tuple[float, int]:
    """(stamp, index) of the first frame from index `after` on that shows `text`."""
    deadline = time.perf_counter() + timeout_s
    checked = after
    while True:
        frames = frames_of(app)
        while checked < len(frames):
            stamp, data = frames[checked]
            if (text in _ESCAPES.sub("", data)) != absent:
                return stamp, checked
            checked += 1
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no frame showed {text!r} within {timeout_s:.0f} s")
        await asyncio.sleep(0.001)


# --------------------------------------------------------------------------- 1. streaming


def model_events(session_id: str, tokens: list[str]) -> tuple[list[Any], list[Any], list[Any]]:
    """(before, ModelText per token, after) for one model call in `session_id`."""
    from opscopilot import events as ev

    ids = {"ts": time.time(), "session_id": session_id, "turn_id": "t-bench"}
    before = [
        ev.TurnStarted(
            **ids, prompt="why is the gateway returning 5xx?", model="openai:gpt-4o-mini"
        ),
        ev.ModelCallStarted(**ids, call_id="c-bench", provider="openai", model="gpt-4o-mini"),
    ]
    texts = [ev.ModelText(**ids, call_id="c-bench", text=t) for t in tokens]
    after = [
        ev.ModelFinished(
            **ids,
            call_id="c-bench",
            provider="openai",
            model="gpt-4o-mini",
            finish_reason="stop",
            usage={"input_tokens": 12, "output_tokens": len(tokens)},
        )
    ]
    return before, texts, after


def ours_app(home: Path) -> Any:
    from opscopilot.tui.app import create_app
    from opscopilot.tui.runtime_engine import RuntimeEngine

    engine = RuntimeEngine(db_path=home / "tui-bench.db")
    app = create_app(model="openai:gpt-4o-mini", engine=engine, deterministic=True)
    app.driver_class = frame_driver()
    return app


async def stream_ours(home: Path, tokens: list[str], via: str = "ingest") -> dict[str, float]:
    """Tokens as ModelText events into the real app, until a frame shows the last one.

    via="ingest": awaited `OpsCopilotApp.ingest` calls, back to back. via="bus": published on
    the real runtime's EventBus in batches, as fast as the app takes them; they reach the app
    the way a live turn's do (the engine's subscription, the pump worker, EngineEvent
    messages), so drawing and the app's other messages interleave with them.
    """
    app = ours_app(home)
    async with app.run_test(headless=False, size=SIZE) as pilot:
        await pilot.pause()
        session_id = app.active_pane.session_id
        before, texts, after = model_events(session_id, tokens)
        for event in before:
            await app.ingest(event)
        await pilot.pause()
        gc.collect()
        started = time.perf_counter()
        if via == "ingest":
            for event in [*texts, *after]:
                await app.ingest(event)
        else:
            bus = app.engine.runtime.bus
            subscription = next(iter(bus._subscribers))
            events = [*texts, *after]
            for i in range(0, len(events), BUS_BATCH):
                for event in events[i : i + BUS_BATCH]:
                    bus.publish(event)
                await asyncio.sleep(0)  # the app's turn: the pump and its messages run
        fed = time.perf_counter()
        drawn, _ = await until_frame(app, END_MARKER)
        pane = app.active_pane
        source = pane.answers["c-bench"].markdown_source if "c-bench" in pane.answers else ""
        blocks = len(pane.query(".answer-text"))
        if via == "bus" and subscription.dropped:
            raise RuntimeError(f"ours via the bus: {subscription.dropped} events dropped")
    app.engine.close()
    if source != "".join(tokens):
        raise RuntimeError(f"ours ({via}): the pane's Markdown does not hold the whole answer")
    return {
        "tokens_per_s": len(tokens) / (drawn - started),
        "fed_s": fed - started,
        "drawn_s": drawn - started,
        "markdown_blocks": blocks,
    }


def bare_app() -> Any:
    """A minimal app: one anchored scroll with one Markdown, as a peer would write it."""
    from textual.app import App, ComposeResult
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield Markdown()

        def on_mount(self) -> None:
            self.query_one(VerticalScroll).anchor()

    app = Bare()
    app.driver_class = frame_driver()
    return app


async def stream_bare(tokens: list[str], feed: str) -> dict[str, float]:
    """The same tokens into a bare Markdown: through MarkdownStream, or update() per token."""
    from textual.widgets import Markdown

    app = bare_app()
    async with app.run_test(headless=False, size=SIZE) as pilot:
        await pilot.pause()
        markdown = app.query_one(Markdown)
        gc.collect()
        started = time.perf_counter()
        if feed == "stream":
            stream = Markdown.get_stream(markdown)
            for token in tokens:
                await stream.write(token)
            await stream.stop()
        else:
            text = ""
            for token in tokens:
                text += token
                await markdown.update(text)
        fed = time.perf_counter()
        drawn, _ = await until_frame(app, END_MARKER)
        source = markdown.source
    if source != "".join(tokens):
        raise RuntimeError(f"{feed}: the Markdown does not hold the whole answer")
    return {
        "tokens_per_s": len(tokens) / (drawn - started),
        "fed_s": fed - started,
        "drawn_s": drawn - started,
    }


# --------------------------------------------------------------------------- 2. key latency


async def key_latency(
    home: Path,
    tokens: list[str],
    presses: int,
    tokens_per_s: float,
    streaming: bool,
    cpu_ms: list[float] | None = None,
) -> list[float]:
    """ms from an F1 key event to the first frame showing the help screen, `presses` times,
    while the runtime's EventBus streams `tokens` to the app at `tokens_per_s` (or idle).
    `cpu_ms` gets, per press, the CPU time the app's thread used over the same span: on a
    loaded machine the wall time is that work stretched by the wait for a core."""
    from textual import events

    app = ours_app(home)
    samples: list[float] = []
    async with app.run_test(headless=False, size=SIZE) as pilot:
        await pilot.pause()
        bus = app.engine.runtime.bus
        before, texts, after = model_events(app.active_pane.session_id, tokens)

        async def produce() -> None:
            tick, per_tick = 0.01, max(int(tokens_per_s * 0.01), 1)
            next_at = time.perf_counter()
            for event in before:
                bus.publish(event)
            for i in range(0, len(texts), per_tick):
                for event in texts[i : i + per_tick]:
                    bus.publish(event)
                next_at += tick
                await asyncio.sleep(max(next_at - time.perf_counter(), 0))
            for event in after:
                bus.publish(event)

        producer = asyncio.create_task(produce()) if streaming else None
        await asyncio.sleep(0.2)
        for _ in range(presses):
            mark = len(frames_of(app))
            pressed, cpu = time.perf_counter(), time.thread_time()
            app._driver.send_message(events.Key("f1", None))
            shown, _ = await until_frame(app, HELP_MARKER, after=mark, timeout_s=10)
            samples.append((shown - pressed) * 1000)
            if cpu_ms is not None:
                cpu_ms.append((time.thread_time() - cpu) * 1000)
            await asyncio.sleep(0.05)
            app._driver.send_message(events.Key("escape", None))
            while app.screen is not app.main_screen:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.1)
        if producer is not None:
            if producer.done():
                raise RuntimeError("the stream ended before the key presses did: use more tokens")
            producer.cancel()
            # Let the app render what it queued: an event ingested while the app shuts down
            # fails (main_screen is gone), which is not what this measures.
            deadline = time.perf_counter() + 30
            while app._message_queue.qsize() and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            await pilot.pause()
    app.engine.close()
    return samples


# --------------------------------------------------------------------------- 3. first frame

HELLO_WORLD = """
from textual.app import App, ComposeResult
from textual.widgets import Static

class Hello(App):
    def compose(self) -> ComposeResult:
        yield Static("Hello, World")

Hello().run()
"""


def first_frame_ms(
    argv: list[str], marker: str, env: dict[str, str], timeout_s: float = 30.0
) -> float:
    """ms from spawning `argv` on a 120×40 pseudo-terminal until its output shows `marker`."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    try:
        while True:
            left = started + timeout_s - time.perf_counter()
            ready, _, _ = select.select([master], [], [], max(left, 0))
            if not ready:
                raise RuntimeError(f"{argv[-1]!r}: no frame within {timeout_s:.0f} s")
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # EIO: the child exited
                chunk = b""
            if not chunk:
                raise RuntimeError(f"{argv[-1]!r} exited before drawing: {seen[-300:]!r}")
            seen += chunk
            if marker in _ESCAPES.sub("", seen.decode(errors="replace")):
                return (time.perf_counter() - started) * 1000
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(master)


def first_frames(home: Path, repeats: int) -> dict[str, list[float]]:
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "COLUMNS": str(SIZE[0]),
        "LINES": str(SIZE[1]),
        "OPSCOPILOT_HOME": str(home),
    }
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(name, None)  # no key: the TUI opens on builtin:ops, as on a fresh machine
    contenders = {
        "ours": ([console_script(), "tui"], "opscopilot"),
        "hello": ([sys.executable, "-c", HELLO_WORLD], "Hello, World"),
    }
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for argv, marker in contenders.values():  # warm the OS file cache once
        first_frame_ms(argv, marker, env)
    for _ in range(repeats):
        for name, (argv, marker) in contenders.items():
            results[name].append(first_frame_ms(argv, marker, env))
    return results


# --------------------------------------------------------------------------- main


def p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description="TUI streaming, key latency and first frame")
    parser.add_argument(
        "--tokens",
        type=int,
        default=5_000,
        help="the long stream (ours and the MarkdownStream peer)",
    )
    parser.add_argument(
        "--short-tokens",
        type=int,
        default=300,
        help="the short stream every contender gets (the naive peer is O(n²))",
    )
    parser.add_argument(
        "--huge-tokens",
        type=int,
        default=None,
        help="ours only: does the rate hold as one answer grows? (default 10 × --tokens; 0: skip)",
    )
    parser.add_argument("--presses", type=int, default=12)
    parser.add_argument(
        "--key-stream-rate",
        type=float,
        default=50.0,
        help="tokens/s on the bus while keys are pressed (a model's pace)",
    )
    parser.add_argument(
        "--fast-key-stream-rate",
        type=float,
        default=2_000.0,
        help="a second key-latency run under a fast stream (0: skip)",
    )
    parser.add_argument("--start-repeats", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    long, short = answer_tokens(args.tokens), answer_tokens(args.short_tokens)
    runs: dict[str, list[dict[str, float]]] = {}
    # (key, label, tokens, run, the row its rate is compared with)
    contenders: list[tuple[str, str, int, Callable[[Path], Awaitable[Any]], str]] = [
        (
            "ours_short",
            "ours: OpsCopilotApp.ingest(ModelText) → pane",
            len(short),
            lambda home: stream_ours(home, short),
            "",
        ),
        (
            "bus_short",
            "ours: EventBus → engine → EngineEvent → pane",
            len(short),
            lambda home: stream_ours(home, short, via="bus"),
            "ours_short",
        ),
        (
            "stream_short",
            "peer: bare Markdown + MarkdownStream.write",
            len(short),
            lambda home: stream_bare(short, "stream"),
            "ours_short",
        ),
        (
            "naive_short",
            "peer: bare Markdown.update(full_text) per token",
            len(short),
            lambda home: stream_bare(short, "update"),
            "ours_short",
        ),
        (
            "ours_long",
            "ours: OpsCopilotApp.ingest(ModelText) → pane",
            len(long),
            lambda home: stream_ours(home, long),
            "",
        ),
        (
            "bus_long",
            "ours: EventBus → engine → EngineEvent → pane",
            len(long),
            lambda home: stream_ours(home, long, via="bus"),
            "ours_long",
        ),
        (
            "stream_long",
            "peer: bare Markdown + MarkdownStream.write",
            len(long),
            lambda home: stream_bare(long, "stream"),
            "ours_long",
        ),
    ]
    huge_tokens = 10 * args.tokens if args.huge_tokens is None else args.huge_tokens
    if huge_tokens:
        huge = answer_tokens(huge_tokens)
        contenders += [
            (
                "ours_huge",
                "ours: OpsCopilotApp.ingest(ModelText) → pane",
                len(huge),
                lambda home: stream_ours(home, huge),
                "ours_long",
            ),
            (
                "bus_huge",
                "ours: EventBus → engine → EngineEvent → pane",
                len(huge),
                lambda home: stream_ours(home, huge, via="bus"),
                "bus_long",
            ),
        ]
    key_runs = [("streaming", args.key_stream_rate), ("idle", 0.0)]
    if args.fast_key_stream_rate:
        key_runs.append(("fast_streaming", args.fast_key_stream_rate))
    keys: dict[str, list[float]] = {}
    with isolated_home() as home:
        asyncio.run(stream_bare(short, "stream"))  # warm-up: imports, first CSS parse
        for repeat in range(args.repeats):
            for key, _, _, contender, _ in contenders:
                runs.setdefault(key, []).append(asyncio.run(contender(home)))
            print(f"stream repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)
        for key, pace in key_runs:
            key_tokens = answer_tokens(int(max(pace, 1) * (args.presses * 1.5 + 10)))
            keys[key] = asyncio.run(
                key_latency(home, key_tokens, args.presses, max(pace, 1), streaming=pace > 0)
            )
        print("key latency done", file=sys.stderr, flush=True)
        starts = first_frames(home, args.start_repeats)
        print("first frame done", file=sys.stderr, flush=True)

    def rate(key: str) -> float:
        return median([r["tokens_per_s"] for r in runs[key]])

    stream_rows = []
    for key, label, count, _, base in contenders:
        values = [r["tokens_per_s"] for r in runs[key]]
        blocks = [r["markdown_blocks"] for r in runs[key] if "markdown_blocks" in r]
        stream_rows.append(
            [
                label,
                f"{count:,}",
                f"{median(values):,.0f}",
                spread(values),
                f"{median([r['fed_s'] for r in runs[key]]):.2f} / "
                f"{median([r['drawn_s'] for r in runs[key]]):.2f}",
                f"{blocks[0]:,}" if blocks else "1",
                "—" if not base else f"{median(values) / rate(base):.2f}×",
            ]
        )
    stream_table = markdown_table(
        [
            "contender",
            "tokens",
            "tokens/s, first fed → last drawn (median)",
            "min–max",
            "s fed / s drawn",
            "Markdown blocks",
            "rate vs the row it follows",
        ],
        stream_rows,
    )

    latency_rows = [
        [
            f"ours: F1 → help screen drawn, while {args.key_stream_rate:,.0f} tokens/s stream in",
            keys["streaming"],
        ],
        ["ours: F1 → help screen drawn, idle", keys["idle"]],
    ]
    if "fast_streaming" in keys:
        latency_rows.append(
            [
                f"ours: F1 → help screen drawn, while "
                f"{args.fast_key_stream_rate:,.0f} tokens/s stream in",
                keys["fast_streaming"],
            ]
        )
    latency_rows += [
        ["ours: `opscopilot tui` spawn → first frame (pty)", starts["ours"]],
        ["peer: Textual hello-world app spawn → first frame (pty)", starts["hello"]],
    ]
    latency_table = markdown_table(
        ["measure", "samples", "ms (median)", "min–max", "p90"],
        [
            [label, len(v), f"{median(v):.1f}", spread(v), f"{p90(v):.1f}"]
            for label, v in latency_rows
        ],
    )
    live = min(rate("bus_long"), rate("ours_long"))
    key_ms, start_ms = median(keys["streaming"]), median(starts["ours"])
    verdicts = [
        f"- streaming: ours {rate('ours_long'):,.0f} tokens/s through ingest and "
        f"{rate('bus_long'):,.0f} through the bus over {len(long):,} tokens, target ≥ "
        f"{STREAM_TARGET_TOKENS_PER_S:,.0f}: "
        f"{'met' if live >= STREAM_TARGET_TOKENS_PER_S else 'MISSED'} "
        f"(Textual's own MarkdownStream: {rate('stream_long'):,.0f})",
        f"- key → screen while streaming: {key_ms:.1f} ms, target < {KEY_TARGET_MS:g} ms: "
        f"{'met' if key_ms < KEY_TARGET_MS else 'MISSED'}",
        f"- `opscopilot tui` first frame: {start_ms:.0f} ms, target < "
        f"{FIRST_FRAME_TARGET_MS:,.0f} ms: {'met' if start_ms < FIRST_FRAME_TARGET_MS else 'MISSED'}"
        f" ({start_ms / median(starts['hello']):.1f}× a hello-world app)",
    ]
    if "ours_huge" in runs:
        verdicts.insert(
            1,
            f"- one {len(huge):,}-token answer: {rate('ours_huge'):,.0f} tokens/s "
            f"through ingest, {rate('bus_huge'):,.0f} through the bus",
        )
    path = write_results(
        "tui",
        {
            "repeats": args.repeats,
            "tokens": len(long),
            "short_tokens": len(short),
            "size": SIZE,
            "streams": runs,
            "key_ms": keys,
            "key_stream_rate": args.key_stream_rate,
            "fast_key_stream_rate": args.fast_key_stream_rate,
            "first_frame_ms": starts,
            "targets": {
                "tokens_per_s": STREAM_TARGET_TOKENS_PER_S,
                "key_ms": KEY_TARGET_MS,
                "first_frame_ms": FIRST_FRAME_TARGET_MS,
            },
            "table": stream_table + "\n\n" + latency_table,
        },
    )
    print(
        f"\n### TUI streaming, {SIZE[0]}×{SIZE[1]} frames rendered to ANSI "
        f"({args.repeats} repeats, medians)\n\n{stream_table}\n"
    )
    print(f"### TUI latency (medians)\n\n{latency_table}\n")
    print("\n".join(verdicts) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
