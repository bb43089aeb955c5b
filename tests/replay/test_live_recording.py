"""Sessions recorded while they happen (`run --record`, `[recording] always`): the file equals,
event for event and offset for offset, what `sessions export` writes from the database."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from opscopilot import events as ev
from opscopilot.replay.live import SessionRecorder
from opscopilot.replay.recording import read_recording


def opscopilot(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args], capture_output=True, text=True, check=check
    )


def recorded_path(stderr: str) -> Path:
    match = re.search(r"recording to (\S+\.jsonl)", stderr)
    assert match, stderr
    return Path(match.group(1))


def assert_equals_export(path: Path, session_id: str, tmp_path: Path) -> list[ev.Event]:
    exported = tmp_path / "exported.jsonl"
    opscopilot("sessions", "export", session_id, "-o", str(exported))
    live, stored = read_recording(path), read_recording(exported)
    assert [t.event for t in live.events] == [t.event for t in stored.events]
    assert [t.offset for t in live.events] == [t.offset for t in stored.events]
    assert live.header.session_id == stored.header.session_id == session_id
    return [t.event for t in live.events]


def test_run_record_writes_the_session_as_it_happens_equal_to_its_export(tmp_path, isolated_home):
    result = opscopilot("run", "how full are the disks and how much memory?", "--json", "--record")
    outcome = json.loads(result.stdout)  # stdout still holds exactly one JSON object
    path = recorded_path(result.stderr)
    assert path == isolated_home / "recordings" / f"{outcome['session_id']}.jsonl"

    events = assert_equals_export(path, outcome["session_id"], tmp_path)
    kinds = {e.type for e in events}
    assert {"turn.started", "model.text", "tool.finished", "turn.finished"} <= kinds
    assert "scheduler.metrics" not in kinds  # no session's event: not in either


def test_always_records_into_the_configured_folder_and_a_resumed_turn_carries_on_the_file(
    tmp_path, isolated_home
):
    folder = tmp_path / "recs"
    (isolated_home / "config.toml").write_text(f'[recording]\nalways = true\ndir = "{folder}"\n')
    paused = opscopilot("run", "restart nginx", "--json", check=False)
    assert paused.returncode == 3
    outcome = json.loads(paused.stdout)
    path = recorded_path(paused.stderr)
    assert path.parent == folder
    (approval_id,) = outcome["pending_approvals"]
    opscopilot("approvals", "deny", approval_id, "--reason", "not from a test")
    resumed = opscopilot("resume", outcome["turn_id"], "--json", check=False)
    assert recorded_path(resumed.stderr) == path

    events = assert_equals_export(path, outcome["session_id"], tmp_path)
    decided = [e for e in events if isinstance(e, ev.ApprovalDecided)]
    assert [(d.approval_id, d.decision) for d in decided] == [(approval_id, "denied")]
    assert [e.status for e in events if isinstance(e, ev.TurnFinished)] == ["completed"]
    assert events.index(decided[0]) < len(events) - 1  # the resumed turn's events follow it


def test_record_to_a_named_file_and_a_bad_recording_section_is_one_line(tmp_path, isolated_home):
    target = tmp_path / "incident.jsonl"
    result = opscopilot("run", "how much memory is free?", f"--record={target}")
    assert recorded_path(result.stderr) == target and read_recording(target).events

    (isolated_home / "config.toml").write_text('[recording]\nalways = "yes"\n')
    bad = opscopilot("run", "how much memory is free?", check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith("[recording] always must be true or false")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_recorder_keeps_sessions_apart_and_leaves_out_events_of_no_session(tmp_path):
    opened: list[str] = []
    recorder = SessionRecorder(tmp_path, on_open=lambda session, _path: opened.append(session))
    for session in ("s-a", "s-b", "s-a"):
        recorder.write(
            ev.TurnStarted(ts=1.0, session_id=session, turn_id="t", prompt="p", model="builtin:ops")
        )
    recorder.write(ev.SchedulerMetrics(ts=2.0, in_flight=1, queued=0, capacity=8))
    recorder.write(
        ev.Notice(
            ts=3.0, session_id="s-b", turn_id="t", message="api_key=sk-live-0123456789abcdefghij"
        )
    )
    recorder.close()
    assert opened == ["s-a", "s-b"]
    a, b = read_recording(tmp_path / "s-a.jsonl"), read_recording(tmp_path / "s-b.jsonl")
    assert [t.event.type for t in a.events] == ["turn.started", "turn.started"]
    assert [t.event.type for t in b.events] == ["turn.started", "notice"]
    assert "sk-live-0123456789abcdefghij" not in (tmp_path / "s-b.jsonl").read_text()
    assert a.header.models == ["builtin:ops"] and a.header.title == "p"
