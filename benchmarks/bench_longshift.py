"""A whole on-call shift: does opscopilot stay flat as work piles up? Each figure is measured
against the same code's first turns or smallest size in the same run.

1. Long TUI session: the real app (RuntimeEngine, builtin:ops, the real store) answers N
   prompts in one pane, typed into the prompt and submitted with Enter; RSS after each turn
   and the time from Enter to the turn's end. Targets: RSS growth per turn after turn 10
   <= 0.5 MiB; median time of the last 20 turns <= 1.2x the median of turns 10-30. The app
   is built as `opscopilot tui` builds it (`tune_collector` after the first frame), and the
   collector runs on its own: a forced collection after every turn would take its cost out
   of the timed turns up to a threshold and not beyond it, so RSS is read after a forced
   one only at turn 10 and at the end (the figures the growth per turn is taken from).
   With 74 turns or more, a fresh 32-turn session runs in another process beside the
   start and beside the end; the drift-corrected ratio compares the long session's turns
   with the fresh one's turns 10-30 at the same moments, at the end over at the start.
2. Batch scaling: `BatchRunner` over S and L generated tickets (each a real builtin:ops turn
   probing this machine), in a fresh process each, an S run beside L's start and one beside
   its end; the per-ticket median (over windows of 20 finished tickets) and RSS at the end.
   Targets: per-ticket time at L <= 1.15x at S; RSS per extra ticket <= 2 KB.
3. Idle with many pending approvals: the real app on a store holding P pending approvals
   sits idle (the reviews panel polls and its ages tick); CPU seconds per wall second.
   Target <= 0.05 cores.
4. Keys under streams: the real app while the runtime's bus streams an answer at each of
   --key-rates tokens/s (and idle, the baseline); F1 is pressed repeatedly and each press is
   timed from the key event to the first frame that shows the help screen (bench_tui's
   harness). Targets at every rate: median <= 50 ms, p90 <= 100 ms. Beside each, the CPU
   time the app's thread spent from key to frame (median) and the load average: on a shared
   machine the wall time is that work stretched by the wait for a core.

Usage: python benchmarks/bench_longshift.py [--turns 200] [--small 200] [--large 2000]
       [--pending 10000] [--idle-s 10] [--key-rates 100,500,2000] [--presses 20]
       [--only session,batch,idle,keys] [--trace]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import isolated_home, markdown_table, median, write_results

RSS_PER_TURN_TARGET_MIB = 0.5
TURN_TIME_RATIO_TARGET = 1.2
TICKET_TIME_RATIO_TARGET = 1.15
RSS_PER_TICKET_TARGET_KB = 2.0
IDLE_CORES_TARGET = 0.05
KEY_MEDIAN_TARGET_MS = 50.0
KEY_P90_TARGET_MS = 100.0
PROMPTS = ("how full is the disk?", "what is the load?", "which ports are listening?")


def _type_counts() -> dict[str, int]:
    """Live objects by type (objgraph's `growth`, without the dependency)."""
    from collections import Counter

    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def _cpu_s() -> float:
    """CPU seconds of this process (every thread) and of its finished children (the tools)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def rss_mib() -> float:
    """Resident set size now (not the peak), from /proc."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# --------------------------------------------------------------------------- 1. long session


BESIDE_TURNS = 32  # a fresh session's turns 10-30 (and two to spare), run beside the long one


def session_child(turns: int) -> None:
    """In a fresh process: a fresh session of `turns` turns; its per-turn figures as JSON."""
    with isolated_home() as home:
        result = asyncio.run(long_session(home, turns))
    print(json.dumps({key: result[key] for key in ("turn_s", "turn_cpu_s", "ended_at")}))


def _overlap(run: dict[str, Any], child: dict[str, Any], key: str) -> float:
    """The long run's median over the turns it ended while `child` ran its turns 10-30."""
    start, end = child["ended_at"][9], child["ended_at"][29]
    inside = [v for v, at in zip(run[key], run["ended_at"], strict=True) if start <= at <= end]
    return median(inside) if inside else float("nan")


def _beside_ratio(run: dict[str, Any], early: dict[str, Any], late: dict[str, Any], key: str):
    """Late turns against a fresh session's turns 10-30 measured at the same moments, over
    the same ratio at the start: the machine's drift weighs on both sides of each ratio."""
    at_end = _overlap(run, late, key) / median(late[key][10:30])
    at_start = _overlap(run, early, key) / median(early[key][10:30])
    return at_end / at_start


async def long_session(
    home: Path, turns: int, trace: bool = False, beside: bool = False
) -> dict[str, Any]:
    from textual.widgets import Input

    from opscopilot.tui.app import create_app
    from opscopilot.tui.runtime_engine import RuntimeEngine

    engine = RuntimeEngine(db_path=home / "opscopilot.db")
    app = create_app(model="builtin:ops", engine=engine, deterministic=True, tune_gc=True)
    warm = 10
    rss: list[float] = []
    seconds: list[float] = []
    cpu: list[float] = []  # this process's CPU (all threads) and its tools', per turn
    ended_at: list[float] = []
    snapshots: list[Any] = []
    children: dict[str, subprocess.Popen[str]] = {}
    # The fresh session beside the end starts early enough for its turns 10-30 to fall on
    # this session's last ~20 (its start-up and first turns take ~8 of this one's turns; its
    # turns 10-30, ~18).
    start_late_at = turns - 30
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.active_pane
        prompt = app.query_one("#prompt", Input)
        for n in range(turns):
            if beside and n in (0, start_late_at):
                children["early" if n == 0 else "late"] = _child("--session-child", BESIDE_TURNS)
            prompt.value = PROMPTS[n % len(PROMPTS)]
            prompt.focus()
            started, cpu_started = time.perf_counter(), _cpu_s()
            await pilot.press("enter")
            while pane.state == "ready" or pane.busy:
                await asyncio.sleep(0.005)
            if pane.state != "completed":
                raise RuntimeError(f"turn {n}: {pane.state}")
            seconds.append(time.perf_counter() - started)
            cpu.append(_cpu_s() - cpu_started)
            ended_at.append(time.time())
            await pilot.pause()
            if n in (warm, turns - 1):
                gc.collect()
            rss.append(rss_mib())
            if trace and n in (10, turns - 1):
                snapshots.append(_type_counts())
    engine.close()
    if trace and len(snapshots) == 2:
        first, last = snapshots
        grown = sorted(((last[k] - first.get(k, 0), k) for k in last), reverse=True)[:25]
        per = max(turns - 1 - 10, 1)
        for count, name in grown:
            print(f"{count / per:9.1f} per turn  {name}", file=sys.stderr)
    per_turn = (rss[-1] - rss[warm]) / max(len(rss) - 1 - warm, 1)
    early = median(seconds[warm:30]) if turns > 30 else median(seconds[warm:])
    late = median(seconds[-20:])
    cpu_early = median(cpu[warm:30]) if turns > 30 else median(cpu[warm:])
    cpu_late = median(cpu[-20:])
    result = {
        "turns": turns,
        "rss_mib": rss,
        "turn_s": seconds,
        "ended_at": ended_at,
        "rss_per_turn_mib": per_turn,
        "turn_s_10_30": early,
        "turn_s_last_20": late,
        "turn_time_ratio": late / early,
        "turn_cpu_s": cpu,
        "turn_cpu_s_10_30": cpu_early,
        "turn_cpu_s_last_20": cpu_late,
        "turn_cpu_ratio": cpu_late / cpu_early,
    }
    if children:
        fresh = {name: _result(process) for name, process in children.items()}
        result["beside"] = fresh
        for key in ("turn_s", "turn_cpu_s"):
            result[f"{key}_beside_ratio"] = _beside_ratio(
                result, fresh["early"], fresh["late"], key
            )
    return result


# --------------------------------------------------------------------------- 2. batch scaling


def write_tickets(path: Path, count: int) -> None:
    with path.open("w") as out:
        for n in range(count):
            ticket = {"id": f"T-{n:05d}", "title": PROMPTS[n % len(PROMPTS)], "service": "bench"}
            out.write(json.dumps(ticket) + "\n")


WINDOW = 20  # tickets per window: the per-ticket median is over these windows' means


def batch_child(count: int) -> None:
    """In a fresh process: one batch run of `count` tickets; prints its figures as JSON."""
    import anyio

    from opscopilot.batch.runner import BatchOptions, BatchRunner

    with isolated_home() as home:
        tickets = home / "tickets.jsonl"
        write_tickets(tickets, count)
        finished: list[float] = []
        cpu: list[float] = []  # this process's and its children's (the tools') CPU seconds
        rss: dict[int, float] = {}

        def progress(_: Any) -> None:
            finished.append(time.time())  # wall clock: compared with another process's
            print(f"progress {len(finished)}", flush=True)
            cpu.append(_cpu_s())
            if len(finished) % 100 == 0:
                rss[len(finished)] = rss_mib()

        options = BatchOptions(model="builtin:ops", approve="read-only", concurrency=4)
        runner = BatchRunner(tickets, home / "report.jsonl", options, on_progress=progress)
        rss_before = rss_mib()
        result = anyio.run(runner.run)
        rss_after = rss_mib()
        lines = (home / "report.jsonl").read_text().splitlines()
        if result.tickets != count or len(lines) != count:
            raise RuntimeError(f"batch of {count}: {result.tickets} tickets, {len(lines)} lines")
    skip = min(20, count // 10)  # the first tickets warm caches up
    # Per-ticket time of each window of WINDOW finished tickets (concurrency 4 finishes them
    # in bursts; a window's mean smooths that, the median of windows the machine's swings).
    window = max(1, min(WINDOW, (count - 1 - skip) // 4))  # smoke-sized runs: smaller
    windows = [
        (finished[i + window] - finished[i]) / window
        for i in range(skip, len(finished) - window, window)
    ]
    print(
        json.dumps(
            {
                "tickets": count,
                "per_ticket_s": (finished[-1] - finished[skip]) / (count - 1 - skip),
                "per_ticket_median_s": median(windows),
                "first_200_median_s": median(windows[: max(1, 200 // window)]),
                "last_200_median_s": median(windows[-max(1, 200 // window) :]),
                "per_ticket_cpu_s": (cpu[-1] - cpu[skip]) / (count - 1 - skip),
                "rss_start_mib": rss_before,
                "rss_end_mib": rss_after,
                "rss_at": rss,
                "finished_at": finished,
                "skip": skip,
                "window": window,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def _child(flag: str, count: int) -> subprocess.Popen[str]:
    """This script in a fresh process (`--batch-child N`, `--session-child N`)."""
    # stderr to a file: a pipe nobody reads while the progress lines are read could fill up.
    errors = tempfile.TemporaryFile()  # noqa: SIM115  (closed with the process, by _result)
    process = subprocess.Popen(
        [sys.executable, __file__, flag, str(count)],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    process.errors = errors  # type: ignore[attr-defined]
    return process


def _result(process: subprocess.Popen[str], lines: list[str] | None = None) -> dict[str, Any]:
    out, _ = process.communicate()
    errors = process.errors  # type: ignore[attr-defined]
    if process.returncode == 0:
        errors.close()
    else:
        errors.seek(0)
        raise RuntimeError(
            f"{process.args[2]} failed: {errors.read()[-2000:].decode(errors='replace')}"
        )
    return json.loads(((lines or []) + out.splitlines())[-1])


def _windows_within(run: dict[str, Any], start: float, end: float) -> list[float]:
    """`run`'s per-ticket time of each window that started and ended between start and end."""
    at, size = run["finished_at"], run["window"]
    return [
        (at[i + size] - at[i]) / size
        for i in range(run["skip"], len(at) - size, size)
        if at[i] >= start and at[i + size] <= end
    ]


def _beside(big: dict[str, Any], small: dict[str, Any]) -> float:
    """L's per-ticket median over the windows it finished while S ran, against S's median:
    two processes sharing the machine at the same moment, so its load weighs on both."""
    at = small["finished_at"]
    inside = _windows_within(big, at[small["skip"]], at[-1])
    return median(inside) / small["per_ticket_median_s"] if inside else float("nan")


def batch_scaling(small: int, large: int) -> dict[str, Any]:
    """L in a fresh process, and S in fresh processes beside it twice: when L starts, and
    when L is S tickets from its end. The figure is L's time per ticket at its end against
    the S run beside it, corrected by the same ratio at its start (what two processes side by
    side differ by anyway): load swings, which moved the sequential runs by 2x on this shared
    machine, weigh on both sides of each ratio. RSS per ticket: L's end against the first S's
    end, and inside L from ticket S to its end."""
    big_process = _child("--batch-child", large)
    early_process = _child("--batch-child", small)
    late_process = None
    start_late_at = max(1, large - small - min(20, small // 10))
    assert big_process.stdout is not None
    lines: list[str] = []
    for line in big_process.stdout:
        lines.append(line)
        starting = line.startswith("progress ") and int(line.split()[1]) >= start_late_at
        if late_process is None and starting:
            late_process = _child("--batch-child", small)
    big = _result(big_process, lines)
    early = _result(early_process)
    late = _result(late_process) if late_process is not None else early
    at_start, at_end = _beside(big, early), _beside(big, late)

    at = {int(k): v for k, v in big["rss_at"].items()}
    inside = [n for n in sorted(at) if n >= small]
    summary = {
        "small_median_s": late["per_ticket_median_s"],
        "large_end_median_s": at_end * late["per_ticket_median_s"],
        "beside_at_start": at_start,
        "beside_at_end": at_end,
        "time_ratio": at_end / at_start,
        "last_vs_first_200": big["last_200_median_s"] / big["first_200_median_s"],
        "cpu_ratio": big["per_ticket_cpu_s"] / early["per_ticket_cpu_s"],
        "rss_per_ticket_kb": (big["rss_end_mib"] - early["rss_end_mib"]) * 1024 / (large - small),
        # The same process's RSS from ticket S to its end: no start-up difference in it.
        "rss_per_ticket_inside_kb": (at[inside[-1]] - at[inside[0]])
        * 1024
        / max(1, inside[-1] - inside[0])
        if len(inside) >= 2
        else float("nan"),
    }
    for run in (big, early, late):
        del run["finished_at"]
    return {"runs": {small: early, large: big}, "small_late": late, **summary}


# --------------------------------------------------------------------------- 3. idle, pending


async def idle_with_pending(home: Path, pending: int, idle_s: float) -> dict[str, Any]:
    from opscopilot.store import ApprovalRecord, Store
    from opscopilot.tui.app import create_app
    from opscopilot.tui.runtime_engine import RuntimeEngine
    from opscopilot.tui.widgets.reviews import ReviewList

    db_path = home / "opscopilot.db"
    now = time.time()
    with Store.open(db_path) as store:
        for n in range(pending):
            store.create_approval(
                ApprovalRecord(
                    id=f"ap-{n:06d}",
                    session_id=f"s-{n % 50}",
                    turn_id=f"t-{n:06d}",
                    tool_call_id=f"tc-{n}",
                    tool="run_command",
                    arguments={"command": f"systemctl restart worker@{n}"},
                    risk="write",
                    reason="restarts a service",
                    call_hash=f"h-{n}",
                    requested_at=now - pending + n,
                )
            )
    engine = RuntimeEngine(db_path=db_path)
    app = create_app(model="builtin:ops", engine=engine, deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        reviews = app.main_screen.query_one(ReviewList)
        while not reviews.option_count:
            await pilot.pause(0.1)
        await asyncio.sleep(2.0)  # settle: first polls, first frames
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(idle_s)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        shown = reviews.option_count
    engine.close()
    return {"pending": pending, "shown": shown, "idle_s": wall, "cores": cpu / wall}


# --------------------------------------------------------------------------- 4. keys


def p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def keys_under_streams(rates: list[float], presses: int) -> dict[str, Any]:
    """F1 -> help drawn, idle and at each rate, in one process one after the other."""
    from benchmarks.bench_tui import answer_tokens, key_latency

    runs: dict[str, Any] = {}
    for rate in [0.0, *rates]:
        # Enough tokens to outlast the presses on a loaded machine (each takes ~0.2 s plus
        # its latency, which can reach seconds): the stream is stopped once they are done.
        tokens = answer_tokens(int(max(rate, 1) * (presses * 3 + 20)))
        cpu: list[float] = []
        load_before = os.getloadavg()[0]
        with isolated_home() as home:
            samples = asyncio.run(
                key_latency(home, tokens, presses, max(rate, 1), rate > 0, cpu_ms=cpu)
            )
        runs["idle" if rate == 0 else f"{rate:g}"] = {
            "tokens_per_s": rate,
            "ms": samples,
            "median_ms": median(samples),
            "p90_ms": p90(samples),
            "cpu_ms": cpu,
            "cpu_median_ms": median(cpu),
            "load": (load_before, os.getloadavg()[0]),
        }
    idle = runs["idle"]["median_ms"]
    for run in runs.values():
        run["vs_idle"] = run["median_ms"] / idle
    return runs


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--key-rates", default="100,500,2000", help="tokens/s, comma-separated")
    parser.add_argument("--presses", type=int, default=20, help="F1 presses per rate")
    parser.add_argument("--only", help="comma-separated: session, batch, idle, keys (default: all)")
    parser.add_argument(
        "--trace", action="store_true", help="which object types grew per turn (stderr)"
    )
    parser.add_argument("--batch-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--session-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch_child:
        batch_child(args.batch_child)
        return
    if args.session_child:
        session_child(args.session_child)
        return

    only = set(args.only.split(",")) if args.only else {"session", "batch", "idle", "keys"}
    results: dict[str, Any] = {}
    rows: list[list[str]] = []

    def done() -> None:
        """A section's rows at once (stderr) and its results on disk: a later failure or a
        stopped run keeps what was measured."""
        for row in rows[len(shown) :]:
            print(" | ".join(row), file=sys.stderr, flush=True)
        shown.extend(rows[len(shown) :])
        write_results("longshift", results)

    shown: list[list[str]] = []
    if "session" in only:
        with isolated_home() as home:
            beside = args.turns >= 2 * BESIDE_TURNS + 10
            session = asyncio.run(long_session(home, args.turns, args.trace, beside))
            results["session"] = session
        rows.append(
            [
                f"long TUI session, {args.turns} builtin:ops turns",
                f"RSS {session['rss_per_turn_mib']:.3f} MiB/turn after turn 10 "
                f"({session['rss_mib'][10]:.0f} → {session['rss_mib'][-1]:.0f} MiB)",
                f"≤ {RSS_PER_TURN_TARGET_MIB} MiB/turn",
            ]
        )
        rows.append(
            [
                "  time per turn",
                f"last 20: {session['turn_s_last_20'] * 1000:.0f} ms vs turns 10–30: "
                f"{session['turn_s_10_30'] * 1000:.0f} ms ({session['turn_time_ratio']:.2f}×)",
                f"≤ {TURN_TIME_RATIO_TARGET}×",
            ]
        )
        rows.append(
            [
                "  CPU per turn (app and its tools)",
                f"last 20: {session['turn_cpu_s_last_20'] * 1000:.0f} ms vs turns 10–30: "
                f"{session['turn_cpu_s_10_30'] * 1000:.0f} ms ({session['turn_cpu_ratio']:.2f}×)",
                "",
            ]
        )
        if "beside" in session:
            rows.append(
                [
                    "  the same, each against a fresh session's turns 10–30 beside it "
                    "(at the end, over the same at the start)",
                    f"time {session['turn_s_beside_ratio']:.2f}×, "
                    f"CPU {session['turn_cpu_s_beside_ratio']:.2f}×",
                    f"≤ {TURN_TIME_RATIO_TARGET}×",
                ]
            )
    done()
    if "batch" in only:
        batch = results["batch"] = batch_scaling(args.small, args.large)
        small, large = batch["runs"][args.small], batch["runs"][args.large]
        rows.append(
            [
                f"batch, {args.small} vs {args.large} tickets: per-ticket median at the end of "
                f"the large run / a {args.small}-ticket run beside it, over the same ratio at "
                "its start",
                f"{batch['small_median_s'] * 1000:.1f} → {batch['large_end_median_s'] * 1000:.1f} "
                f"ms/ticket ({batch['beside_at_end']:.2f}× / {batch['beside_at_start']:.2f}× = "
                f"{batch['time_ratio']:.2f}×)",
                f"≤ {TICKET_TIME_RATIO_TARGET}×",
            ]
        )
        rows.append(
            [
                "  last 200 vs first 200 tickets of the large run (the load's swings included)",
                f"{batch['last_vs_first_200']:.2f}×",
                "",
            ]
        )
        rows.append(
            [
                "  CPU per ticket (process + tools; less swayed by the machine's load)",
                f"{small['per_ticket_cpu_s'] * 1000:.1f} → {large['per_ticket_cpu_s'] * 1000:.1f} "
                f"ms/ticket ({batch['cpu_ratio']:.2f}×)",
                "",
            ]
        )
        rows.append(
            [
                "  memory",
                f"{batch['rss_per_ticket_kb']:.2f} KB RSS per extra ticket "
                f"({small['rss_end_mib']:.1f} → {large['rss_end_mib']:.1f} MiB); inside the "
                f"large run from ticket {args.small}: {batch['rss_per_ticket_inside_kb']:.2f} KB",
                f"≤ {RSS_PER_TICKET_TARGET_KB} KB",
            ]
        )
    done()
    if "idle" in only:
        with isolated_home() as home:
            idle = results["idle"] = asyncio.run(idle_with_pending(home, args.pending, args.idle_s))
        rows.append(
            [
                f"idle TUI, {args.pending} pending approvals",
                f"{idle['cores']:.3f} cores over {idle['idle_s']:.0f} s "
                f"({idle['shown']} in the panel)",
                f"≤ {IDLE_CORES_TARGET} cores",
            ]
        )
    done()
    if "keys" in only:
        rates = [float(rate) for rate in args.key_rates.split(",") if rate]
        keys = results["keys"] = keys_under_streams(rates, args.presses)
        for name, run in keys.items():
            label = "idle" if name == "idle" else f"{run['tokens_per_s']:,.0f} tokens/s"
            rows.append(
                [
                    f"F1 → help drawn, {label} ({args.presses} presses)",
                    f"median {run['median_ms']:.0f} ms, p90 {run['p90_ms']:.0f} ms "
                    f"({run['vs_idle']:.2f}× idle); app thread CPU per press "
                    f"{run['cpu_median_ms']:.0f} ms; load {run['load'][0]:.1f}",
                    f"≤ {KEY_MEDIAN_TARGET_MS:g} / {KEY_P90_TARGET_MS:g} ms",
                ]
            )
    done()
    print(markdown_table(["measure", "ours", "target"], rows))
    write_results("longshift", results)


if __name__ == "__main__":
    main()
