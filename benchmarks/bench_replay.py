"""Replay at max speed: a 10k-event recording, headless and into the TUI (target: under 2 s).

Headless is `opscopilot replay FILE --headless --speed max` as a fresh process, spawn to exit,
against the floor of a process that only reads and parses the same JSONL. The TUI figure is
the real replay app (headless Textual, `run_test`) from start until every event is on screen.
Usage: python benchmarks/bench_replay.py [--events N] [--repeats R]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    console_script,
    isolated_home,
    markdown_table,
    median,
    spread,
    write_results,
)

TARGET_S = 2.0


def make_recording(path: Path, events: int) -> None:
    from opscopilot import events as ev
    from opscopilot.replay.recording import RecordingHeader, write_recording

    base = 1_800_000_000.0
    stream: list[ev.Event] = [
        ev.TurnStarted(
            ts=base, session_id="s", turn_id="t", prompt="why is the gateway slow?", model="bench"
        )
    ]
    for i in range(events - 2):
        stream.append(
            ev.ModelText(
                ts=base + 0.001 * (i + 1),
                session_id="s",
                turn_id="t",
                call_id="c",
                text=f"token{i} " + ("\n\n" if i % 200 == 199 else ""),
            )
        )
    stream.append(
        ev.TurnFinished(ts=base + 0.001 * events, session_id="s", turn_id="t", status="completed")
    )
    write_recording(path, RecordingHeader(models=["bench"]), stream)


def timed_process(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


async def tui_replay_seconds(path: Path) -> tuple[float, int]:
    from opscopilot.replay.recording import read_recording
    from opscopilot.tui.replay import ReplayApp

    started = time.perf_counter()
    app = ReplayApp(read_recording(path), speed=None)
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.finished:
            await pilot.pause(0.01)
        return time.perf_counter() - started, app.rendered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with isolated_home(), tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recording.jsonl"
        make_recording(path, args.events)
        script = console_script()
        floor = [
            sys.executable,
            "-c",
            f"import json\nfor line in open({str(path)!r}): json.loads(line)",
        ]
        headless = [script, "replay", str(path), "--headless", "--speed", "max"]
        floor_s, headless_s, tui_s = [], [], []
        for _ in range(args.repeats):  # interleaved, so drift hits every contender alike
            floor_s.append(timed_process(floor))
            headless_s.append(timed_process(headless))
            seconds, rendered = asyncio.run(tui_replay_seconds(path))
            if rendered != args.events:
                raise SystemExit(f"the TUI drew {rendered} of {args.events} events")
            tui_s.append(seconds)
    rows = [
        ["floor: python reads + parses the JSONL", f"{median(floor_s):.2f} s", spread(floor_s), ""],
        [
            "opscopilot replay --headless --speed max",
            f"{median(headless_s):.2f} s",
            spread(headless_s),
            f"target < {TARGET_S:g} s: {'met' if median(headless_s) < TARGET_S else 'MISSED'}",
        ],
        [
            "TUI replay at max speed, all events on screen",
            f"{median(tui_s):.2f} s",
            spread(tui_s),
            f"target < {TARGET_S:g} s: {'met' if median(tui_s) < TARGET_S else 'MISSED'}",
        ],
    ]
    print(f"\n### Replay of a {args.events:,}-event recording ({args.repeats} repeats, medians)\n")
    print(markdown_table(["contender", "median", "spread", "verdict"], rows))
    write_results(
        "replay",
        {"events": args.events, "floor_s": floor_s, "headless_s": headless_s, "tui_s": tui_s},
    )


if __name__ == "__main__":
    main()
