"""What the OS sandbox costs: per command (target: adds <= 15 ms), and per batch (<= 1.3x).

Per command: `run_process(argv)` (the path every tool's program takes) confined and
unconfined, interleaved round-robin in one process, median wall time of each. The batch:
`opscopilot batch` on the 120-ticket sample (`--approve read-only`, builtin:ops), as a fresh
process with the sandbox and with it switched off in that process (the baseline: what a
host without the sandbox would run if it did not ask), once as shipped (its tickets attach
logs, read in-process by tail_log) and once with the attachments left out, so every ticket
runs real diagnostics (df, ss, free, ps) in the sandbox.
Usage: python benchmarks/bench_sandbox.py [--runs N] [--batch-repeats R] [--skip-batch]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, isolated_home, markdown_table, median, spread, write_results

TARGET_ADDED_MS = 15.0
TARGET_BATCH_RATIO = 1.3
COMMANDS = (  # (label, argv): the default profile, a process viewer, a network probe
    ("true", ["true"]),
    ("df -h", ["df", "-h"]),
    ("cat /etc/os-release", ["cat", "/etc/os-release"]),
    ("ps aux (host pids)", ["ps", "aux"]),
    ("ss -ltn (host network)", ["ss", "-ltn"]),
)
SAMPLE = REPO / "opscopilot" / "batch" / "sample" / "tickets.jsonl"

# Runs `opscopilot batch` in this child process, the sandbox switched off when asked.
_BATCH_CHILD = """
import sys
from opscopilot.tools import sandbox
if sys.argv[1] == "off":
    sandbox.is_confined = lambda: False
from opscopilot.cli.main import cli
cli.main(sys.argv[2:], prog_name="opscopilot")
"""


def per_command(runs: int) -> list[dict]:
    import anyio

    from opscopilot.tools import sandbox
    from opscopilot.tools.process import run_process

    async def once(argv: list[str], confined: bool) -> float:
        started = time.perf_counter()
        with sandbox.confined(confined):
            result = await run_process(argv, timeout_s=30)
        assert result.status == "ok", result.content
        return (time.perf_counter() - started) * 1000

    async def measure() -> list[dict]:
        rows = []
        floor = [str(status.binary), "--ro-bind", "/", "/", "true"]
        samples = []
        for _ in range(runs):  # what bubblewrap itself costs: one bind mount, no namespaces
            samples.append(await once(floor, False))
        rows.append(
            {
                "command": "bwrap --ro-bind / / true (bubblewrap alone)",
                "unconfined_ms": median(samples),
                "confined_ms": None,
                "added_ms": None,
                "unconfined_samples": samples,
                "confined_samples": [],
            }
        )
        for label, argv in COMMANDS:
            samples: dict[bool, list[float]] = {False: [], True: []}
            await once(argv, True)  # warm the page cache and the probe
            for _ in range(runs):
                for confined in (False, True):
                    samples[confined].append(await once(argv, confined))
            plain, boxed = median(samples[False]), median(samples[True])
            rows.append(
                {
                    "command": label,
                    "unconfined_ms": plain,
                    "confined_ms": boxed,
                    "added_ms": boxed - plain,
                    "unconfined_samples": samples[False],
                    "confined_samples": samples[True],
                }
            )
        return rows

    status = sandbox.status()
    if not status.available:
        raise SystemExit(f"no sandbox on this host: {status.reason}")
    return anyio.run(measure)


def batch_seconds(tickets: Path, sandbox_on: bool) -> tuple[float, dict[str, int]]:
    with isolated_home(), tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.jsonl"
        command = [
            sys.executable, "-c", _BATCH_CHILD, "on" if sandbox_on else "off",
            "batch", str(tickets), "-o", str(report), "--approve", "read-only", "--quiet",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        counts: dict[str, int] = {}
        for line in report.read_text().splitlines():
            for tool in json.loads(line).get("tools", []):
                key = f"{tool['name']} {tool['status']}"
                counts[key] = counts.get(key, 0) + 1
        return seconds, counts


def without_attachments(folder: Path) -> Path:
    path = folder / "tickets-no-attachments.jsonl"
    lines = []
    for line in SAMPLE.read_text().splitlines():
        ticket = json.loads(line)
        ticket.pop("attachments", None)
        lines.append(json.dumps(ticket))
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each command, each way")
    parser.add_argument("--batch-repeats", type=int, default=1)
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()

    commands = per_command(args.runs)
    table = markdown_table(
        ["command", "unconfined (median)", "in the sandbox", "added", "target"],
        [
            [
                f"`{row['command']}`",
                f"{row['unconfined_ms']:.1f} ms",
                f"{row['confined_ms']:.1f} ms ({spread(row['confined_samples'])})"
                if row["confined_ms"] is not None
                else "—",
                f"**{row['added_ms']:.1f} ms**" if row["added_ms"] is not None else "—",
                f"≤ {TARGET_ADDED_MS:g} ms" if row["added_ms"] is not None else "",
            ]
            for row in commands
        ],
    )
    load = os.getloadavg()[0]
    sections = [
        f"### Sandbox: per command ({args.runs} runs each way, interleaved; "
        f"load average {load:.1f} on {os.cpu_count()} cores)\n\n{table}"
    ]

    batches = []
    if not args.skip_batch:
        with tempfile.TemporaryDirectory() as folder:
            for label, tickets in (
                ("sample (attached logs)", SAMPLE),
                ("sample without attachments (diagnostics)", without_attachments(Path(folder))),
            ):
                runs: dict[bool, list[float]] = {False: [], True: []}
                tools: dict[str, int] = {}
                for _ in range(args.batch_repeats):
                    for sandbox_on in (False, True):
                        seconds, tools = batch_seconds(tickets, sandbox_on)
                        runs[sandbox_on].append(seconds)
                off, on = median(runs[False]), median(runs[True])
                batches.append(
                    {
                        "tickets": label,
                        "off_s": off,
                        "on_s": on,
                        "ratio": on / off,
                        "tools": tools,
                        "samples": {"off": runs[False], "on": runs[True]},
                    }
                )
        table = markdown_table(
            ["120 tickets", "sandbox off", "sandbox on", "ratio", "target", "tool calls"],
            [
                [
                    row["tickets"],
                    f"{row['off_s']:.1f} s",
                    f"{row['on_s']:.1f} s",
                    f"**{row['ratio']:.2f}×**",
                    f"≤ {TARGET_BATCH_RATIO:g}×",
                    ", ".join(f"{n} {k}" for k, n in sorted(row["tools"].items())),
                ]
                for row in batches
            ],
        )
        sections.append(
            f"### Sandbox: the batch (`--approve read-only`, {args.batch_repeats} run each)\n\n"
            + table
        )
    print("\n\n".join(sections))
    path = write_results("sandbox", {"commands": commands, "batches": batches})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
