"""Cold start: from just before a process is spawned to its request arriving at a loopback server.

The server runs in this process (a thread of tests/support/wire_server.py) and stamps each
request with `time.perf_counter()` when its body has been read, the same clock the spawn was
stamped with. Contenders are `opscopilot prompt hi --model openai:bench` (and a model the
catalog prices), minimal scripts doing one streaming call with the openai SDK, the anthropic
SDK and LiteLLM, and three floors: `python -c pass`, a stdlib http.client request, and the
libraries opscopilot sends with (click, pydantic, anyio, httpx) doing the same call with no
opscopilot code. Repeats are interleaved; we report medians.

Usage: python benchmarks/bench_cold_start.py [--repeats 15] [--litellm-repeats 3] [--only …]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BENCH_KEY,
    console_script,
    isolated_home,
    markdown_table,
    median,
    spread,
    write_results,
)
from tests.support.wire_server import Reply, WireServer, sse

TARGET_MS = 250.0

OPENAI_SDK = """
from openai import OpenAI
stream = OpenAI(max_retries=0).chat.completions.create(
    model="bench", messages=[{"role": "user", "content": "hi"}], stream=True)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()
"""

ANTHROPIC_SDK = """
from anthropic import Anthropic
stream = Anthropic(max_retries=0).messages.create(
    model="bench", max_tokens=64, messages=[{"role": "user", "content": "hi"}], stream=True)
for event in stream:
    if event.type == "content_block_delta" and event.delta.type == "text_delta":
        print(event.delta.text, end="", flush=True)
print()
"""

LITELLM = """
import os, litellm
stream = litellm.completion(model="openai/bench", api_base=os.environ["OPENAI_BASE_URL"],
    messages=[{"role": "user", "content": "hi"}], stream=True, max_retries=0)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()
"""

# The libraries `opscopilot prompt` sends with, and nothing of ours: a click command, two
# pydantic models validated, anyio, httpx streaming the same request. Optional parts are
# hidden as opscopilot hides them (trio, httpx's CLI, h2), so the difference to ours is our
# own code. It prints the streamed text like every contender.
LIBRARY_FLOOR = """
import sys
for name in ("trio", "httpx._main", "h2"):
    sys.modules[name] = None
import json, os
import click
from pydantic import BaseModel

class Message(BaseModel):
    role: str
    content: str

class Request(BaseModel):
    model: str
    messages: list[Message]

@click.command()
@click.argument("text")
def prompt(text):
    import anyio
    import httpx

    async def call():
        request = Request(model="bench", messages=[Message(role="user", content=text)])
        body = {**request.model_dump(), "stream": True}
        url = os.environ["OPENAI_BASE_URL"] + "/chat/completions"
        async with httpx.AsyncClient(verify=False) as client:  # plain http: no certificates
            async with client.stream("POST", url, json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        choices = json.loads(line[6:])["choices"]
                        if choices and choices[0]["delta"].get("content"):
                            print(choices[0]["delta"]["content"], end="", flush=True)
        print()

    anyio.run(call)

prompt(["hi"])
"""

# Marks the moment `opscopilot prompt` connects to the server, for `-X importtime`: the
# imports listed before the mark are the ones the request waited for.
AT_CONNECT = """
import sys

def mark(event, args):
    if event == "socket.connect" and not getattr(mark, "done", False):
        mark.done = True
        sys.stderr.write("@@CONNECT\\n")
        sys.stderr.flush()

sys.addaudithook(mark)
sys.argv = ["opscopilot", "prompt", "hi", "--model", "openai:bench"]
from opscopilot.cli.main import main
main()
"""

HTTP_CLIENT = """
import http.client, json, os, urllib.parse
url = urllib.parse.urlsplit(os.environ["OPENAI_BASE_URL"])
connection = http.client.HTTPConnection(url.hostname, url.port)
body = json.dumps({"model": "bench", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
connection.request("POST", url.path + "/chat/completions", body, {"content-type": "application/json"})
print(connection.getresponse().read()[:0].decode())
"""


def openai_reply() -> bytes:
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "bench"}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
        for word in ("Hello", " from", " loopback.")
    ]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append(
        {
            **head,
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
        }
    )
    return sse(*chunks, "[DONE]")


def anthropic_reply() -> bytes:
    return sse(
        {
            "type": "message_start",
            "message": {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "bench",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Hello from loopback."},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop"},
        event_names=True,
    )


class ArrivalClock:
    """Stamps every request that reaches the server with perf_counter (this process's clock)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._lock = threading.Lock()

    def stamp(self, body: bytes, content_type: str = "text/event-stream") -> Reply:
        with self._lock:
            self.arrivals.append(time.perf_counter())
        return Reply(body=body, pieces=None, content_type=content_type)

    def reset(self) -> None:
        with self._lock:
            self.arrivals.clear()


@dataclass
class Contender:
    name: str
    label: str
    argv: list[str]
    sends_request: bool = True
    repeats: int = 0  # 0: the run's --repeats
    expect: str = "Hello from loopback."  # stdout must hold the streamed text
    to_request_ms: list[float] = field(default_factory=list)
    to_exit_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # the child's user + system time


def contenders(litellm_repeats: int, peer_repeats: int = 0) -> list[Contender]:
    python, ours = sys.executable, console_script()
    return [
        Contender("python_pass", "floor: python -c pass", [python, "-c", "pass"], False, expect=""),
        Contender(
            "http_client",
            "floor: python + http.client request",
            [python, "-c", HTTP_CLIENT],
            expect="",
        ),
        Contender(
            "library_floor",
            "floor: click + pydantic + anyio + httpx request",
            [python, "-c", LIBRARY_FLOOR],
        ),
        Contender(
            "ours_prompt",
            "ours: opscopilot prompt",
            [ours, "prompt", "hi", "--model", "openai:bench"],
        ),
        Contender(
            "ours_prompt_priced",
            "ours: opscopilot prompt, a catalogued model",
            [ours, "prompt", "hi", "--model", "openai:gpt-4o-mini"],
        ),
        Contender("ours_help", "ours: opscopilot --help", [ours, "--help"], False, expect="Usage"),
        Contender(
            "ours_version", "ours: opscopilot --version", [ours, "--version"], False, expect=""
        ),
        Contender(
            "openai_sdk", "openai SDK script", [python, "-c", OPENAI_SDK], repeats=peer_repeats
        ),
        Contender(
            "anthropic_sdk",
            "anthropic SDK script",
            [python, "-c", ANTHROPIC_SDK],
            repeats=peer_repeats,
        ),
        Contender("litellm", "LiteLLM script", [python, "-c", LITELLM], repeats=litellm_repeats),
    ]


def quiet_resets(server: WireServer) -> None:
    """A peer that exits without closing its keep-alive socket resets it: not worth a traceback."""
    httpd = server._httpd
    report = httpd.handle_error

    def handle_error(request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionResetError):
            report(request, client_address)

    httpd.handle_error = handle_error  # type: ignore[method-assign]


def spawn_once(contender: Contender, clock: ArrivalClock, env: dict[str, str]) -> None:
    clock.reset()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(contender.argv, env=env, capture_output=True, timeout=120)
    ended = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(
            f"{contender.name} exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace')[-400:]}"
        )
    if contender.expect not in done.stdout.decode(errors="replace"):
        raise RuntimeError(
            f"{contender.name} did not print {contender.expect!r}: "
            f"{done.stdout.decode(errors='replace')[-200:]!r}"
        )
    contender.to_exit_ms.append((ended - started) * 1e3)
    contender.cpu_ms.append(
        (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1e3
    )
    if contender.sends_request:
        if not clock.arrivals:
            raise RuntimeError(f"{contender.name} never reached the server")
        contender.to_request_ms.append((clock.arrivals[0] - started) * 1e3)


def import_offenders(env: dict[str, str], top: int = 15) -> dict[str, list]:
    """`python -X importtime` of `opscopilot prompt` up to its request: the slowest modules
    by own and cumulative time.

    Modules loaded with importlib.import_module (the command's module, the adapter) get no
    line of their own, so their imports show up as top-level ones.
    """
    runner = [sys.executable, "-X", "importtime", "-c", AT_CONNECT]
    done = subprocess.run(runner, env=env, capture_output=True, text=True, timeout=120)
    if "@@CONNECT" not in done.stderr:
        raise RuntimeError(f"importtime run never connected: {done.stderr[-400:]}")
    rows = []
    for line in done.stderr.split("@@CONNECT")[0].splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match[1]), int(match[2]), (len(match[3]) - 1) // 2, match[4]))
    by_self = sorted(rows, reverse=True)[:top]
    top_level = sorted((r for r in rows if r[2] == 0), key=lambda r: -r[1])[:top]
    return {
        "total_ms": round(sum(r[0] for r in rows) / 1e3, 1),
        "by_self_ms": [[name, round(own / 1e3, 1)] for own, _, _, name in by_self],
        "top_level_cumulative_ms": [[name, round(cum / 1e3, 1)] for _, cum, _, name in top_level],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="process start to the request leaving")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--peer-repeats",
        type=int,
        default=7,
        help="the SDK scripts take seconds each; ours and the floors get --repeats",
    )
    parser.add_argument(
        "--litellm-repeats",
        type=int,
        default=3,
        help="LiteLLM takes seconds to import; fewer repeats keep the run short",
    )
    parser.add_argument("--only", default="", help="comma-separated contender names")
    args = parser.parse_args()

    clock = ArrivalClock()
    openai_body, anthropic_body = openai_reply(), anthropic_reply()
    chosen = [
        c
        for c in contenders(args.litellm_repeats, args.peer_repeats)
        if not args.only or c.name in args.only.split(",")
    ]
    with isolated_home() as home, WireServer() as server:
        for path in ("/v1/chat/completions", "/chat/completions"):
            server.handle(path, lambda r: clock.stamp(openai_body))
        server.handle("/v1/messages", lambda r: clock.stamp(anthropic_body))
        quiet_resets(server)
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update(
            OPSCOPILOT_HOME=str(home),
            OPENAI_BASE_URL=f"{server.url}/v1",
            OPENAI_API_KEY=BENCH_KEY,
            ANTHROPIC_BASE_URL=server.url,
            ANTHROPIC_API_KEY=BENCH_KEY,
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            LITELLM_TELEMETRY="False",
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # cached bytecode is the normal case
        for contender in chosen:  # warm the page cache and .pyc files once, untimed
            spawn_once(contender, clock, env)
            contender.to_request_ms.clear()
            contender.to_exit_ms.clear()
            contender.cpu_ms.clear()
        for repeat in range(args.repeats):
            for contender in chosen:
                if repeat < (contender.repeats or args.repeats):
                    spawn_once(contender, clock, env)
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)
        offenders = import_offenders(env)

    ours = next((c for c in chosen if c.name == "ours_prompt"), None)
    ours_ms = median(ours.to_request_ms) if ours and ours.to_request_ms else None
    rows, results = [], []
    for c in chosen:
        to_request = median(c.to_request_ms) if c.to_request_ms else None
        ratio = (
            f"{to_request / ours_ms:.1f}×"
            if to_request
            and ours_ms
            and c is not ours
            and c.name in ("openai_sdk", "anthropic_sdk", "litellm")
            else "—"
        )
        rows.append(
            [
                c.label,
                len(c.to_exit_ms),
                f"{to_request:.0f}" if to_request else "—",
                spread(c.to_request_ms) if c.to_request_ms else "—",
                f"{median(c.to_exit_ms):.0f}",
                f"{median(c.cpu_ms):.0f}",
                ratio,
            ]
        )
        results.append(
            {
                "name": c.name,
                "label": c.label,
                "argv": [*c.argv[:1], "…"],
                "to_request_ms": c.to_request_ms,
                "to_exit_ms": c.to_exit_ms,
                "cpu_ms": c.cpu_ms,
                "median_cpu_ms": median(c.cpu_ms),
                "median_to_request_ms": to_request,
                "median_to_exit_ms": median(c.to_exit_ms),
            }
        )
    table = markdown_table(
        [
            "contender",
            "runs",
            "spawn → request (ms, median)",
            "min–max",
            "spawn → exit (ms)",
            "child CPU (ms)",
            "peer / ours",
        ],
        rows,
    )
    path = write_results(
        "cold_start",
        {
            "repeats": args.repeats,
            "target_ms": TARGET_MS,
            "contenders": results,
            "importtime": offenders,
            "table": table,
        },
    )
    print(f"\n### Cold start (medians)\n\n{table}\n")
    if ours_ms is not None:
        verdict = "met" if ours_ms < TARGET_MS else "MISSED"
        print(
            f"- opscopilot prompt: request left after {ours_ms:.0f} ms, target < "
            f"{TARGET_MS:g} ms: {verdict}"
        )
    print(
        f"- `python -X importtime` of opscopilot prompt: {offenders['total_ms']} ms of imports "
        "before the request;"
        " slowest top-level: "
        + ", ".join(f"{n} {ms} ms" for n, ms in offenders["top_level_cumulative_ms"][:6])
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
