"""Kill -9 at random points of a turn with a write tool, then resume: nothing runs twice,
nothing recorded is lost, and a write whose outcome is unknown goes back to the operator."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from opscopilot.governance import Ledger
from opscopilot.store import Store

from .support import cli_env, opscopilot, script_append_turn, spawn, write_config


def _kill_at_random(args: list[str], env: dict[str, str], rng: random.Random) -> None:
    process = spawn(*args, env=env)
    time.sleep(rng.uniform(0.4, 2.2))
    process.kill()  # SIGKILL: no cleanup of any kind
    process.communicate(timeout=30)


def _finish(turn_id: str, env: dict[str, str], home: Path) -> tuple[dict, list[str]]:
    """Resume until the turn ends, denying re-runs of unknown outcomes and approving the rest."""
    unknown: list[str] = []
    for _ in range(8):
        result = opscopilot("resume", turn_id, "--json", env=env)
        assert result.returncode in (0, 3), result.stderr
        outcome = json.loads(result.stdout)
        if result.returncode == 0:
            return outcome, unknown
        with Store.open(home / "opscopilot.db") as store:
            records = [store.get_approval(a) for a in outcome["pending_approvals"]]
        for record in records:
            assert record is not None
            if "outcome unknown" in record.reason:
                unknown.append(record.id)
                decision = ["deny", record.id, "--reason", "it may have run already"]
            else:
                decision = ["approve", record.id]
            assert opscopilot("approvals", *decision, env=env).returncode == 0
    raise AssertionError(f"turn {turn_id} did not finish")


def _turn_for(prompt: str, home: Path) -> str | None:
    """The turn a killed `run` stored for this prompt, if it got that far."""
    if not (home / "opscopilot.db").exists():
        return None
    with Store.open(home / "opscopilot.db") as store:
        for session in store.list_sessions(limit=5):
            for turn in store.list_turns(session.id):
                if turn.prompt == prompt:
                    return turn.id
    return None


def _one_iteration(index: int, rng: random.Random, wire_server, home: Path, tmp: Path) -> None:
    audit = tmp / f"audit-{index}.log"
    write_config(home, audit, sleep_s=0.4)
    env = cli_env(home, wire_server)
    token = f"line-{index}"
    script_append_turn(wire_server, text=token, delay_s=0.004)
    if index % 2 == 0:
        _kill_at_random(["run", f"append {token}", "--approve", "all", "--json"], env, rng)
        turn_id = _turn_for(f"append {token}", home)
        if turn_id is None:
            return  # killed before anything was stored: nothing to resume, nothing ran
    else:
        paused = opscopilot("run", f"append {token}", "--json", env=env)
        assert paused.returncode == 3, paused.stderr
        outcome = json.loads(paused.stdout)
        turn_id = outcome["turn_id"]
        for approval_id in outcome["pending_approvals"]:
            assert (
                opscopilot(
                    "approvals", "approve", approval_id, "--operator", "bob", env=env
                ).returncode
                == 0
            )
        _kill_at_random(["resume", turn_id, "--json"], env, rng)

    final, unknown = _finish(turn_id, env, home)
    assert final["status"] == "completed"
    lines = audit.read_text().splitlines() if audit.exists() else []
    assert lines in ([], [token]), f"the write ran {len(lines)} times"

    with Store.open(home / "opscopilot.db") as store:
        journal = store.journal(turn_id)
        runs = [e for e in journal if e.kind == "tool_run"]
        assert sum(1 for e in runs if e.status == "ok") <= 1
        unfinished = [e for e in runs if not e.finished]
        # every run that never got a result was put in front of the operator, not re-run
        assert len(unfinished) == len(unknown)
        if unknown:
            assert not any(
                e.status == "ok" and e.created_at > unfinished[0].created_at for e in runs
            )
        for approval_id in unknown:
            record = store.get_approval(approval_id)
            assert record is not None and record.status == "denied"
        decided = store.list_approvals(status=None, turn_id=turn_id)
        assert all(r.status in ("approved", "denied") for r in decided)
        model_calls = [e for e in journal if e.kind == "model_call" and e.status == "ok"]
    with Ledger(home / "opscopilot.db") as ledger:
        for entry in model_calls:
            assert ledger.get(entry.effect_id) is not None, "a model call's spend was lost"


@pytest.mark.timeout(180)
def test_kill_9_at_random_points_then_resume_never_runs_a_write_twice(
    wire_server, isolated_home: Path, tmp_path: Path
) -> None:
    rng = random.Random(20261120)
    for index in range(3):
        _one_iteration(index, rng, wire_server, isolated_home, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_kill_9_soak(wire_server, isolated_home: Path, tmp_path: Path) -> None:
    rng = random.Random()
    for index in range(30):
        _one_iteration(index, rng, wire_server, isolated_home, tmp_path)
