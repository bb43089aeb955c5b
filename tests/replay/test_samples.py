"""The sample recordings in recordings/ are made with the app itself; they double as golden tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from opscopilot import events as ev
from opscopilot.config import bundled_dir
from opscopilot.replay.recording import RecordingHeader, read_recording, write_recording

SAMPLES = bundled_dir("recordings")


def sample(name: str) -> list[ev.Event]:
    return [t.event for t in read_recording(SAMPLES / name).events]


def headless(path: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", "replay", str(path), "--headless", "--speed", "max"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def finished(events: list[ev.Event]) -> ev.TurnFinished:
    return [e for e in events if isinstance(e, ev.TurnFinished)][-1]


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.jsonl")), ids=lambda p: p.name)
def test_every_sample_is_labelled_and_replays_headless(path: Path):
    recording = read_recording(path)
    assert recording.header.label.startswith("sample made with opscopilot")
    transcript = headless(path)
    streamed = "".join(t.event.text for t in recording.events if isinstance(t.event, ev.ModelText))
    for piece in streamed.split("\n"):
        assert piece in transcript
    assert f"turn {finished([t.event for t in recording.events]).status}" in transcript


def test_the_samples_cover_streaming_tools_approval_denial_cutoff_and_provider_error():
    disk = sample("01-disk-and-memory.jsonl")
    assert sum(isinstance(e, ev.ModelText) for e in disk) > 10
    assert [e.status for e in disk if isinstance(e, ev.ToolFinished)] == ["ok", "ok"]
    assert finished(disk).status == "completed"

    edited = sample("02-approval-edited.jsonl")
    (decision,) = [e for e in edited if isinstance(e, ev.ApprovalDecided)]
    assert decision.decision == "approved" and decision.operator == "alice"
    assert decision.arguments == {"command": "systemctl status nginx --no-pager"}
    (started,) = [e for e in edited if isinstance(e, ev.ToolStarted)]
    assert started.arguments == decision.arguments  # the edited call is the one that ran

    denied = sample("03-denied.jsonl")
    (decision,) = [e for e in denied if isinstance(e, ev.ApprovalDecided)]
    assert decision.decision == "denied" and decision.reason == "change freeze until Monday"
    assert not any(isinstance(e, ev.ToolStarted) for e in denied)

    cut = sample("04-budget-cutoff.jsonl")
    (cutoff,) = [e for e in cut if isinstance(e, ev.BudgetCutoff)]
    assert finished(cut).status == "cut_off"
    assert cutoff.spent_usd <= cutoff.cap_usd * 1.05  # stopped within about one chunk
    assert any(isinstance(e, ev.ModelText) for e in cut)  # the partial answer was kept

    failed = sample("05-provider-error.jsonl")
    assert any(isinstance(e, ev.ModelRetry) for e in failed)
    assert finished(failed).status == "failed"
    assert finished(failed).error is not None


def test_no_key_or_configured_secret_pattern_appears_in_any_recording(tmp_path: Path):
    key_shapes = re.compile(
        r"sk-(?!sample)[A-Za-z0-9_-]{16,}|sk-ant-|AIza[0-9A-Za-z_-]{20}|Bearer [A-Za-z0-9]"
    )
    for path in SAMPLES.glob("*.jsonl"):
        text = path.read_text()
        assert not key_shapes.search(text), path.name
        assert "sk-sample-not-a-real-key" not in text, path.name  # the key the samples ran with

    # A session that handles a secret and a configured pattern, exported: neither reaches the file.
    secret_file = tmp_path / "app.env"
    secret_file.write_text("DB_PASSWORD=hunter2hunter2\nINCIDENT=INC-SECRET-7781\n")
    home = Path(os.environ["OPSCOPILOT_HOME"])
    (home / "config.toml").write_text('[redact]\npatterns = ["INC-SECRET-\\\\d+"]\n')
    env = {**os.environ, "MY_SERVICE_TOKEN": "tok-abcdefgh12345678"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "opscopilot",
            "run",
            f"show me the log {secret_file} errors and my token tok-abcdefgh12345678",
            "--approve",
            "all",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    session_id = json.loads(run.stdout)["session_id"]
    out = tmp_path / "r.jsonl"
    subprocess.run(
        [sys.executable, "-m", "opscopilot", "sessions", "export", session_id, "-o", str(out)],
        check=True,
        capture_output=True,
        env=env,
    )
    text = out.read_text()
    assert "hunter2hunter2" not in text
    assert "INC-SECRET-7781" not in text
    assert "tok-abcdefgh12345678" not in text
    assert "[REDACTED]" in text


def test_rerunning_the_agent_against_a_recording_gives_the_recorded_answers(tmp_path: Path):
    recorded = sample("01-disk-and-memory.jsonl")
    prompt = next(e.prompt for e in recorded if isinstance(e, ev.TurnStarted))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "opscopilot",
            "run",
            prompt,
            "--json",
            "--model",
            f"replay:{SAMPLES / '01-disk-and-memory.jsonl'}",
        ],
        capture_output=True,
        text=True,
    )
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "completed", result.stderr
    recorded_calls = [(e.name, e.arguments) for e in recorded if isinstance(e, ev.ModelToolCall)]
    assert [(c["name"], c["arguments"]) for c in outcome["tool_calls"]] == recorded_calls
    recorded_text = "".join(e.text for e in recorded if isinstance(e, ev.ModelText))
    assert (
        outcome["text"].split() == recorded_text.split()
    )  # same words (calls are joined by blank lines)


def test_replay_at_max_speed_plays_a_10k_event_recording_whole(tmp_path: Path):
    base = 1_800_000_000.0
    events = [
        ev.ModelText(
            ts=base + i * 0.01, session_id="s", turn_id="t", call_id="c", text=f"token{i} "
        )
        for i in range(10_000)
    ]
    path = tmp_path / "big.jsonl"
    write_recording(path, RecordingHeader(), events)
    transcript = headless(path)  # how fast is measured in benchmarks/bench_replay.py
    assert transcript.count("token") == 10_000
    assert transcript.startswith("token0 token1 ")
