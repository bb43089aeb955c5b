"""Decisions made in another process reach the turn's owner, which continues it; a turn has one
live owner at a time. Real `opscopilot` processes on one SQLite file, a loopback model."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from opscopilot.store import Change, Store

from .support import cli_env, opscopilot, script_append_turn, spawn, write_config


def _wait_for(home: Path, watch, kind: str, turn_id: str | None = None) -> Change:
    """Block on the store's change watch until a change of `kind` is committed."""
    for _ in range(600):
        for change in watch.wait(timeout=0.5):
            if change.kind == kind and (turn_id is None or change.turn_id == turn_id):
                return change
    raise AssertionError(f"no {kind} change in the store")


def _setup(wire_server, home: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    audit = tmp_path / "audit.log"
    write_config(home, audit)
    script_append_turn(wire_server, text="as asked")
    return audit, cli_env(home, wire_server)


def test_run_wait_continues_when_another_process_approves_with_edited_arguments(
    wire_server, isolated_home: Path, tmp_path: Path
) -> None:
    audit, env = _setup(wire_server, isolated_home, tmp_path)
    with Store.open(isolated_home / "opscopilot.db") as store, store.watch_changes() as watch:
        waiting = spawn("run", "append a line", "--wait", "--json", env=env)
        try:
            requested = _wait_for(isolated_home, watch, "approval.requested")
            owner = store.live_owner(requested.turn_id, now=time.time())
            assert owner is not None and owner.kind == "run" and owner.pid == waiting.pid
            decided = opscopilot(
                "approvals", "approve", requested.key, "--args", '{"text": "edited"}', env=env
            )
            assert decided.returncode == 0, decided.stderr
            assert f"run (pid {waiting.pid}" in decided.stdout  # not "run resume": it goes on
            out, err = waiting.communicate(timeout=120)
        finally:
            if waiting.poll() is None:
                waiting.kill()
        assert waiting.returncode == 0, err
        outcome = json.loads(out)
        assert outcome["status"] == "completed" and outcome["pending_approvals"] == []
        assert audit.read_text() == "edited\n"
        events = [e for _, e in store.events(turn_id=requested.turn_id)]
        decided_events = [e for e in events if e.type == "approval.decided"]
        assert len(decided_events) == 1
        assert decided_events[0].channel == "cli" and decided_events[0].arguments == {
            "text": "edited"
        }
        assert store.turn_owner(requested.turn_id) is None  # released when it finished


def test_two_resumes_at_once_one_drives_the_turn_and_the_other_refuses_saying_where(
    wire_server, isolated_home: Path, tmp_path: Path
) -> None:
    audit, env = _setup(wire_server, isolated_home, tmp_path)
    paused = opscopilot("run", "append a line", "--json", env=env)
    assert paused.returncode == 3, paused.stderr
    outcome = json.loads(paused.stdout)
    turn_id, approval_id = outcome["turn_id"], outcome["pending_approvals"][0]
    with Store.open(isolated_home / "opscopilot.db") as store, store.watch_changes() as watch:
        assert store.turn_owner(turn_id) is None  # `run` without --wait lets the turn go
        first = spawn("resume", turn_id, "--wait", "--json", env=env)
        try:
            _wait_for(isolated_home, watch, "owner.claimed", turn_id)
            second = opscopilot("resume", turn_id, "--json", env=env)
            assert second.returncode == 1
            assert "being driven by resume" in second.stderr
            assert f"pid {first.pid}" in second.stderr and "continues there" in second.stderr
            assert opscopilot("approvals", "approve", approval_id, env=env).returncode == 0
            out, err = first.communicate(timeout=120)
        finally:
            if first.poll() is None:
                first.kill()
    assert first.returncode == 0, err
    assert json.loads(out)["status"] == "completed"
    assert audit.read_text() == "as asked\n"  # ran once, by the one owner


def test_an_owner_killed_while_paused_leaves_the_turn_to_resume(
    wire_server, isolated_home: Path, tmp_path: Path
) -> None:
    audit, env = _setup(wire_server, isolated_home, tmp_path)
    with Store.open(isolated_home / "opscopilot.db") as store, store.watch_changes() as watch:
        waiting = spawn("run", "append a line", "--wait", "--json", env=env)
        requested = _wait_for(isolated_home, watch, "approval.requested")
        waiting.send_signal(signal.SIGKILL)
        waiting.communicate(timeout=30)
        assert store.turn_owner(requested.turn_id) is not None  # its row outlived it
        denied = opscopilot(
            "approvals", "deny", requested.key, "--reason", "not on a Friday", env=env
        )
        assert denied.returncode == 0, denied.stderr
        assert f"opscopilot resume {requested.turn_id}" in denied.stdout  # nobody alive owns it
    finished = opscopilot("resume", requested.turn_id, "--json", env=env)
    assert finished.returncode == 0, finished.stderr
    outcome = json.loads(finished.stdout)
    assert outcome["status"] == "completed"
    assert outcome["tool_calls"][0]["status"] == "denied"
    assert not audit.exists()
