"""The benchmark scripts still run end to end on tiny sizes and write well-formed results.

Not timed: speed is proved by `python benchmarks/run_all.py`, never by a test. These only
catch a benchmark broken by a change elsewhere (each script checks its own event counts and
raises if a contender saw a different stream than was sent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str, results: Path) -> dict:
    env = {**os.environ, "OPSCOPILOT_BENCH_RESULTS": str(results)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| contender |" in done.stdout or "| measure |" in done.stdout
    name = script.removeprefix("bench_").removesuffix(".py")
    return json.loads((results / f"{name}-latest.json").read_text())


def test_stream_benchmark_counts_every_event_for_our_adapters_and_the_floor(tmp_path: Path):
    result = run_benchmark(
        "bench_stream.py",
        "--only",
        "floor,ours_openai,ours_anthropic,ours_client",
        "--events",
        "300",
        "--repeats",
        "1",
        results=tmp_path,
    )
    by_name = {c["name"]: c for c in result["contenders"]}
    assert set(by_name) == {"floor", "ours_openai", "ours_anthropic", "ours_client"}
    for contender in by_name.values():
        assert contender["events"] == 300
        assert len(contender["cpu_us_per_event"]) == 1 and contender["median_cpu_us"] > 0
    assert "| ours: OpenAIProvider | 300 |" in result["table"]


def test_store_benchmark_stores_every_event_and_times_every_streamed_token(tmp_path: Path):
    result = run_benchmark(
        "bench_store.py",
        "--events",
        "500",
        "--naive-events",
        "50",
        "--runtime-events",
        "200",
        "--paced",
        "40",
        "--paced-delay-ms",
        "0.2",
        "--repeats",
        "1",
        results=tmp_path,
    )
    assert result["runtime_latency_us"]["samples"] == 40
    assert result["store_appends"][0]["events_per_s"] > 0
    assert len(result["runtime_cpu_us_per_token"]) == 1


def test_cold_start_benchmark_sees_the_prompt_request_arrive(tmp_path: Path):
    result = run_benchmark(
        "bench_cold_start.py",
        "--only",
        "python_pass,ours_prompt,ours_version",
        "--repeats",
        "1",
        results=tmp_path,
    )
    by_name = {c["name"]: c for c in result["contenders"]}
    assert len(by_name["ours_prompt"]["to_request_ms"]) == 1
    assert by_name["python_pass"]["to_request_ms"] == []  # it sends nothing
    assert result["importtime"]["top_level_cumulative_ms"]


def test_replay_benchmark_draws_every_event_headless_and_in_the_tui(tmp_path: Path):
    result = run_benchmark("bench_replay.py", "--events", "300", "--repeats", "1", results=tmp_path)
    assert result["events"] == 300
    assert len(result["headless_s"]) == len(result["tui_s"]) == len(result["floor_s"]) == 1


def test_longshift_benchmark_runs_batch_scaling_and_idle_with_pending(tmp_path: Path):
    result = run_benchmark(
        "bench_longshift.py",
        "--only",
        "batch,idle",
        "--small",
        "6",
        "--large",
        "12",
        "--pending",
        "150",
        "--idle-s",
        "0.5",
        results=tmp_path,
    )
    runs = result["batch"]["runs"]
    assert {int(n) for n in runs} == {6, 12} and all(r["per_ticket_s"] > 0 for r in runs.values())
    assert result["idle"]["pending"] == 150 and result["idle"]["shown"] == 100


def test_serve_benchmark_times_the_page_the_event_stream_and_expiries(tmp_path: Path):
    result = run_benchmark("bench_serve.py", "--quick", results=tmp_path)
    samples = result["samples"]
    assert len(samples["GET /api/approvals @5"]) == 3 and len(samples["commit to changed"]) == 3
    assert len(samples["expiry lag"]) == 3 and min(samples["expiry lag"]) >= 0


def test_decisions_benchmark_measures_one_decision_across_processes(tmp_path: Path):
    result = run_benchmark("bench_decisions.py", "--repeats", "1", results=tmp_path)
    assert len(result["latency_s"]) == 1 and result["latency_s"][0] >= 0


def test_team_store_benchmark_sees_every_approval_and_counts_every_ledger_write(tmp_path: Path):
    result = run_benchmark(
        "bench_team_store.py",
        "--approvals",
        "5",
        "--writes",
        "10",
        "--writers",
        "2",
        results=tmp_path,
    )
    assert result["visibility_ms"]["samples"] == 5
    assert result["ledger_writes_per_s"]["sqlite"] > 0
    assert result["ledger_writes_per_s"]["postgresql"] > 0


def test_batch_fanout_benchmark_settles_every_ticket_once_with_each_worker_count(tmp_path: Path):
    result = run_benchmark(
        "bench_batch_fanout.py",
        "--tickets",
        "4",
        "--latency-ms",
        "10",
        "--workers",
        "1,2",
        "--rounds",
        "1",
        results=tmp_path,
    )
    assert set(result["workers"]) == {"1", "2"} and result["tickets"] == 4
    for figures in result["workers"].values():
        assert len(figures["rounds"]) == 1 and figures["tickets_per_s"] > 0


def test_mcp_benchmark_times_prompt_and_a_turn_with_three_stdio_servers(tmp_path: Path):
    result = run_benchmark("bench_mcp.py", "--repeats", "1", results=tmp_path)
    assert result["prompt_mcp_modules"] == []  # prompt loads nothing of MCP
    assert {name: len(ms) for name, ms in result["prompt_ms"].items()} == {"none": 1, "three": 1}
    turns = result["turn_to_first_request_ms"]
    assert {name: len(ms) for name, ms in turns.items()} == {"none": 1, "cold": 1, "warm": 1}
    assert all(ms[0] > 0 for ms in turns.values())
    assert "run, 3 stdio servers, later runs (kept listing)" in result["table"]
