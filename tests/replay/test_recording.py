from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from opscopilot import events as ev
from opscopilot import redact
from opscopilot.llm.types import Usage
from opscopilot.replay.player import Player
from opscopilot.replay.recording import (
    FORMAT_VERSION,
    RecordingError,
    RecordingHeader,
    read_recording,
    write_recording,
)


def sample_events(base: float = 1_700_000_000.0) -> list[ev.Event]:
    s, t = "sess-1", "turn-1"
    return [
        ev.SessionStarted(ts=base, session_id=s, model="builtin:ops", title="disk"),
        ev.TurnStarted(
            ts=base + 0.01, session_id=s, turn_id=t, prompt="why is / full?", model="builtin:ops"
        ),
        ev.ModelText(
            ts=base + 0.02, session_id=s, turn_id=t, call_id="c1", text="Checking disks… "
        ),
        ev.ModelText(ts=base + 0.03, session_id=s, turn_id=t, call_id="c1", text="naïve ☕\n"),
        ev.ToolProposed(
            ts=base + 0.04,
            session_id=s,
            turn_id=t,
            tool_call_id="k1",
            name="run_command",
            arguments={"command": "df -h"},
            risk="read",
        ),
        ev.ToolFinished(
            ts=base + 0.05,
            session_id=s,
            turn_id=t,
            tool_call_id="k1",
            name="run_command",
            status="ok",
            content="Filesystem Size Used\n/dev/vda 252G 22G\n",
            duration_s=0.01,
        ),
        ev.ModelFinished(
            ts=base + 0.06,
            session_id=s,
            turn_id=t,
            call_id="c1",
            provider="builtin",
            model="ops",
            finish_reason="stop",
            usage=Usage(input_tokens=10, output_tokens=5),
            cost_usd=0.00003,
            cost_simulated=True,
        ),
        ev.TurnFinished(
            ts=base + 0.07, session_id=s, turn_id=t, status="completed", cost_usd=0.00003
        ),
    ]


def test_a_recording_round_trips_every_event_and_its_offset(tmp_path: Path):
    path = tmp_path / "r.jsonl"
    written = write_recording(path, RecordingHeader(models=["builtin:ops"]), sample_events())
    recording = read_recording(path)
    assert written == 8
    assert recording.header.version == FORMAT_VERSION
    assert [t.event for t in recording.events] == sample_events()
    assert recording.events[0].offset == 0.0
    assert recording.events[-1].offset == pytest.approx(0.07)


def test_secrets_are_redacted_on_write(tmp_path: Path):
    redact.register_secret("hunter2-very-secret")
    redact.register_patterns([r"INC-SECRET-\d+"])
    leaky = ev.ToolFinished(
        ts=1.0,
        tool_call_id="k",
        name="read_file",
        status="ok",
        content='OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz "hunter2-very-secret" INC-SECRET-42 '
        "Authorization: Bearer abcdefgh12345678",
    )
    path = tmp_path / "r.jsonl"
    write_recording(path, RecordingHeader(title="hunter2-very-secret"), [leaky])
    raw = path.read_text()
    for secret in (
        "sk-proj-abcdefghijklmnopqrstuvwxyz",
        "hunter2-very-secret",
        "INC-SECRET-42",
        "abcdefgh12345678",
    ):
        assert secret not in raw
    assert raw.count("[REDACTED]") >= 4
    read_recording(path)  # still valid JSON lines


def test_newer_format_versions_and_garbage_are_refused_in_one_line(tmp_path: Path):
    newer = tmp_path / "newer.jsonl"
    newer.write_text(
        json.dumps({"format": "opscopilot-recording", "version": FORMAT_VERSION + 1}) + "\n"
    )
    with pytest.raises(RecordingError, match=r"newer than this opscopilot"):
        read_recording(newer)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("hello\n")
    with pytest.raises(RecordingError, match=r"garbage.jsonl:1: not a JSON line"):
        read_recording(garbage)
    bad_event = tmp_path / "bad.jsonl"
    bad_event.write_text(
        json.dumps({"format": "opscopilot-recording", "version": 1})
        + "\n"
        + json.dumps({"t": 0, "event": {"type": "nope", "ts": 0}})
        + "\n"
    )
    with pytest.raises(RecordingError, match=r"bad.jsonl:2: not a valid event line"):
        read_recording(bad_event)


def test_player_honours_speed_and_max_speed(tmp_path: Path):
    path = tmp_path / "r.jsonl"
    write_recording(path, RecordingHeader(), sample_events())
    recording = read_recording(path)
    seen: list[ev.Event] = []

    async def at(speed):
        seen.clear()
        started = time.monotonic()
        await Player(recording, speed=speed).play(seen.append)
        return time.monotonic() - started

    assert anyio.run(at, 1.0) >= 0.06
    assert seen == [t.event for t in recording.events]
    assert anyio.run(at, None) < 0.05


def test_player_pause_step_and_seek():
    recording_events = sample_events()

    async def main():
        from opscopilot.replay.recording import Recording, TimedEvent

        rec = Recording(
            RecordingHeader(), [TimedEvent(i * 0.001, e) for i, e in enumerate(recording_events)]
        )
        player = Player(rec, speed=None)
        player.pause()
        seen: list[ev.Event] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(player.play, seen.append)
            await anyio.sleep(0.02)
            assert seen == []
            player.step(2)
            await anyio.sleep(0.02)
            assert len(seen) == 2
            player.seek(6)
            player.resume()
        assert seen[2:] == recording_events[6:]

    anyio.run(main)


def test_headless_replay_prints_every_streamed_character_and_tool_result(tmp_path: Path):
    path = tmp_path / "r.jsonl"
    write_recording(path, RecordingHeader(), sample_events())
    result = subprocess.run(
        [sys.executable, "-m", "opscopilot", "replay", str(path), "--headless", "--speed", "max"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Checking disks… naïve ☕\n" in result.stdout
    assert "Filesystem Size Used\n/dev/vda 252G 22G\n" in result.stdout
    assert "» why is / full?" in result.stdout
    assert "turn completed" in result.stdout


def test_replay_of_a_bad_file_is_one_line_and_exit_1(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    result = subprocess.run(
        [sys.executable, "-m", "opscopilot", "replay", str(path), "--headless"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "not an opscopilot recording" in result.stderr


def test_pausing_while_the_player_waits_for_the_next_event_holds_every_later_event():
    recording_events = sample_events()

    async def main():
        from opscopilot.replay.recording import Recording, TimedEvent

        # The second event is due 0.2 s after the first: pause in that gap.
        timed = [
            TimedEvent(0.0 if i == 0 else 0.2 + i * 0.001, e)
            for i, e in enumerate(recording_events)
        ]
        player = Player(Recording(RecordingHeader(), timed), speed=1.0)
        seen: list[ev.Event] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(player.play, seen.append)
            await anyio.sleep(0.05)
            player.pause()
            await anyio.sleep(0.4)  # well past the second event's time
            assert seen == recording_events[:1]
            player.step()
            await anyio.sleep(0.05)
            assert seen == recording_events[:2]
            player.resume()
        assert seen == recording_events

    anyio.run(main)
