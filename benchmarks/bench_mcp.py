"""MCP servers and start-up: what configured MCP servers cost a command, spawn to first request.

Two questions, each answered by contenders measured interleaved in one run (medians):

1. `opscopilot prompt` never needs MCP: with three `[mcp_servers.*]` configured it must start
   as fast as with none (ratio within 5 %), and load no module of the SDK (`mcp`,
   `mcp_types`) nor `opscopilot.mcp`: counted with an audit hook at the request's connect.
2. A turn (`opscopilot run`) with three stdio servers (tests/mcp/servers/ops_server.py, real
   SDK servers) configured: time from spawning `run` to its first model request reaching the
   loopback server. "cold" is a first run ever (no tool listing kept: the first model call
   waits for the three servers to start and list their tools); "warm" is every later run
   (the kept listing is offered at once, and the servers start once the model answers).
   The target is warm ≤ 1.5 s; the floor is the same turn with no server configured. Each
   run's first request must offer the three servers' tools (else the run is an error: a
   fast turn without its tools proves nothing).

Usage: python benchmarks/bench_mcp.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BENCH_KEY,
    console_script,
    markdown_table,
    median,
    spread,
    write_results,
)
from benchmarks.bench_cold_start import ArrivalClock, openai_reply, quiet_resets
from tests.support.wire_server import WireServer

OPS_SERVER = Path(__file__).resolve().parent.parent / "tests" / "mcp" / "servers" / "ops_server.py"
TURN_TARGET_MS = 1500.0
PROMPT_RATIO_LIMIT = 1.05

LOADED_AT_CONNECT = """
import json, sys

def report(event, args):
    if event == "socket.connect" and not getattr(report, "done", False):
        report.done = True
        loaded = [n for n in sys.modules if n.split(".")[0] in ("mcp", "mcp_types")
                  or n.startswith("opscopilot.mcp")]
        sys.stderr.write("MCP-LOADED " + json.dumps(loaded) + "\\n")

sys.addaudithook(report)
sys.argv = ["opscopilot", "prompt", "hi", "--model", "openai:bench"]
from opscopilot.cli.main import main
main()
"""


def write_home(home: Path, servers: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    lines = ['[defaults]\nmodel = "openai:bench"\n']
    for index in range(servers):
        lines.append(
            f"[mcp_servers.ops{index}]\ncommand = {json.dumps([sys.executable, str(OPS_SERVER)])}\n"
        )
    (home / "config.toml").write_text("\n".join(lines))


def offered_mcp_tools(server: WireServer) -> set[str]:
    """The MCP tools (NAME__TOOL) that the last run's first model request offered."""
    first = server.requests_to("/v1/chat/completions")[-1].json()
    return {t["function"]["name"] for t in first.get("tools", []) if "__" in t["function"]["name"]}


def timed(argv: list[str], env: dict[str, str], clock: ArrivalClock) -> tuple[float, float]:
    """(ms to the first request, ms to exit) of one process."""
    clock.reset()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    ended = time.perf_counter()
    if done.returncode != 0 or "Hello from loopback." not in done.stdout:
        raise RuntimeError(f"{argv[1:3]} exited {done.returncode}: {done.stderr[-400:]}")
    if not clock.arrivals:
        raise RuntimeError(f"{argv[1:3]} never reached the model server")
    return (clock.arrivals[0] - started) * 1e3, (ended - started) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ours = console_script()
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"opscopilot-bench-mcp-{os.getpid()}"
    homes = {"none": root / "none", "three": root / "three"}
    write_home(homes["none"], 0)
    write_home(homes["three"], 3)
    clock = ArrivalClock()
    prompt_ms: dict[str, list[float]] = {"none": [], "three": []}
    turn_ms: dict[str, list[float]] = {"none": [], "cold": [], "warm": []}
    exit_ms: dict[str, list[float]] = {"none": [], "cold": [], "warm": []}
    with WireServer() as server:
        quiet_resets(server)
        server.handle("/v1/chat/completions", lambda _request: clock.stamp(openai_reply()))

        def env_for(home: Path) -> dict[str, str]:
            return {
                **os.environ,
                "OPSCOPILOT_HOME": str(home),
                "OPENAI_BASE_URL": server.url + "/v1",
                "OPENAI_API_KEY": BENCH_KEY,
            }

        loaded = subprocess.run(
            [sys.executable, "-c", LOADED_AT_CONNECT],
            env=env_for(homes["three"]),
            capture_output=True,
            text=True,
            timeout=60,
        )
        line = next(x for x in loaded.stderr.splitlines() if x.startswith("MCP-LOADED "))
        mcp_modules = json.loads(line.removeprefix("MCP-LOADED "))
        prompt = [ours, "prompt", "hi", "--model", "openai:bench"]
        run = [ours, "run", "hello", "--model", "openai:bench"]
        for repeat in range(args.repeats):
            order = ("none", "three") if repeat % 2 == 0 else ("three", "none")
            for name in order:  # alternated, so neither always runs right after a turn
                prompt_ms[name].append(timed(prompt, env_for(homes[name]), clock)[0])
            first, done = timed(run, env_for(homes["none"]), clock)
            turn_ms["none"].append(first)
            exit_ms["none"].append(done)
            (homes["three"] / "mcp-tools.json").unlink(missing_ok=True)
            for name in ("cold", "warm"):  # cold writes the listing, warm finds it
                first, done = timed(run, env_for(homes["three"]), clock)
                offered = offered_mcp_tools(server)
                if {tool.split("__")[0] for tool in offered} != {"ops0", "ops1", "ops2"}:
                    raise RuntimeError(f"the {name} run offered MCP tools {sorted(offered)}")
                turn_ms[name].append(first)
                exit_ms[name].append(done)
    ratio = median(prompt_ms["three"]) / median(prompt_ms["none"])
    labels = {
        "none": "run, no MCP server",
        "cold": "run, 3 stdio servers, first run (no kept listing)",
        "warm": "run, 3 stdio servers, later runs (kept listing)",
    }
    rows = [
        [
            "prompt, no MCP server",
            f"{median(prompt_ms['none']):.0f}",
            spread(prompt_ms["none"]),
            "",
        ],
        [
            "prompt, 3 MCP servers configured",
            f"{median(prompt_ms['three']):.0f}",
            spread(prompt_ms["three"]),
            f"{ratio:.3f}× (limit {PROMPT_RATIO_LIMIT}×)",
        ],
    ]
    for name, label in labels.items():
        rows.append(
            [
                label,
                f"{median(turn_ms[name]):.0f}",
                spread(turn_ms[name]),
                f"exit {median(exit_ms[name]):.0f} ms"
                + (
                    ""
                    if name == "none"
                    else f"; {median(turn_ms[name]) - median(turn_ms['none']):+.0f} ms "
                    "over the floor"
                ),
            ]
        )
    table = markdown_table(["measure", "to first request (ms)", "spread", "note"], rows)
    warm_ok = median(turn_ms["warm"]) <= TURN_TARGET_MS
    summary = (
        f"{table}\n\nMCP modules loaded by `prompt` before its request: {len(mcp_modules)} "
        f"{mcp_modules}. Prompt ratio {ratio:.3f}× "
        f"({'within' if ratio <= PROMPT_RATIO_LIMIT else 'OVER'} {PROMPT_RATIO_LIMIT}×); "
        f"warm turn {median(turn_ms['warm']):.0f} ms "
        f"({'within' if warm_ok else 'OVER'} the {TURN_TARGET_MS:.0f} ms target; the same "
        f"turn with no server: {median(turn_ms['none']):.0f} ms)."
    )
    path = write_results(
        "mcp",
        {
            "repeats": args.repeats,
            "prompt_ms": prompt_ms,
            "prompt_ratio": ratio,
            "prompt_mcp_modules": mcp_modules,
            "turn_to_first_request_ms": turn_ms,
            "turn_exit_ms": exit_ms,
            "table": summary,
        },
    )
    print(summary)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
