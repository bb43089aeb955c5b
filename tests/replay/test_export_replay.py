"""A session run for real, exported from the database, replayed headless: nothing is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from opscopilot import events as ev
from opscopilot.replay.recording import read_recording


def opscopilot(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args], capture_output=True, text=True, check=check
    )


def test_export_then_headless_replay_reproduces_every_character_and_tool_result(tmp_path: Path):
    opscopilot("run", "how full are the disks and how much memory?", "--json")
    (session,) = json.loads(opscopilot("sessions", "list", "--json").stdout)
    path = tmp_path / "session.jsonl"
    exported = opscopilot("sessions", "export", session["id"], "-o", str(path))
    assert "wrote" in exported.stdout

    recording = read_recording(path)
    events = [t.event for t in recording.events]
    streamed = "".join(e.text for e in events if isinstance(e, ev.ModelText))
    results = [e.content for e in events if isinstance(e, ev.ToolFinished)]
    assert streamed and len(results) == 2
    assert recording.header.session_id == session["id"]
    assert recording.header.models == ["builtin:ops"]

    transcript = opscopilot("replay", str(path), "--headless", "--speed", "max").stdout
    # Text between two tool events streams contiguously; every piece of it is in the transcript.
    for e in events:
        if isinstance(e, ev.ModelText):
            assert e.text in transcript
    for content in results:
        assert content in transcript
    pieces = [e.text for e in events if isinstance(e, ev.ModelText)]
    position = 0
    for piece in pieces:  # and in the order they streamed
        found = transcript.find(piece, position)
        assert found >= 0
        position = found + len(piece)


def test_exporting_an_unknown_session_is_one_line_and_exit_1():
    result = opscopilot("sessions", "export", "s-nope", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no session s-nope"
