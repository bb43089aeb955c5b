"""Two hosts on one team store: separate processes with separate OPSCOPILOT_HOMEs on one real
PostgreSQL server. An approval host A's turn asks for is pushed to host B (LISTEN/NOTIFY, no
polling), listed there within 200 ms of the request, decided there, and A's waiting turn
(a `run --wait`) hears the decision through its own push and continues by itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from opscopilot.store import Store

from .support import ROOT, cli_env, opscopilot, script_append_turn, spawn, write_config

VISIBLE_WITHIN_S = 0.2


def _host(home: Path, url: str, server, operator: str) -> dict[str, str]:
    home.mkdir()
    env = cli_env(home, server)
    env.update(OPSCOPILOT_STORE=url, USER=operator)
    return env


def _listen_on_host_b(url: str, env: dict[str, str], expected: int) -> subprocess.Popen:
    """Host B: waits on its store's change watch and prints each pending approval it lists,
    with the moment it saw it (tests/store/listen_worker.py)."""
    listener = subprocess.Popen(
        [sys.executable, "-m", "tests.store.listen_worker", url, str(expected)],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert json.loads(listener.stdout.readline()) == {"ready": True}, listener.stderr.read()
    return listener


def test_an_approval_asked_on_host_a_is_listed_and_decided_on_host_b_and_a_continues(
    wire_server, postgres_url: str, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.log"
    env_a = _host(tmp_path / "host-a", postgres_url, wire_server, "ann")
    env_b = _host(tmp_path / "host-b", postgres_url, None, "bob")
    write_config(Path(env_a["OPSCOPILOT_HOME"]), audit)
    script_append_turn(wire_server, text="as asked")
    host_b = _listen_on_host_b(postgres_url, env_b, expected=1)
    waiting = spawn("run", "append a line", "--wait", "--json", env=env_a)
    try:
        seen = json.loads(host_b.stdout.readline())
        assert "id" in seen, seen  # not {"timeout": true}: B's 60 s waits ended on pushes
        # B woke once per change the turn committed (its claim, its moves, the request).
        assert json.loads(host_b.stdout.readline())["wakeups"] >= 1
        assert host_b.wait(timeout=30) == 0
        with Store.open(postgres_url) as store:
            approval = store.get_approval(seen["id"])
            assert approval is not None and approval.status == "pending"
            # Both stamps are this machine's clock: A's request, B's listing of it.
            assert 0 <= seen["seen_at"] - approval.requested_at < VISIBLE_WITHIN_S

            listed = opscopilot("approvals", "list", "--json", env=env_b)
            assert [a["id"] for a in json.loads(listed.stdout)] == [approval.id]
            decided = opscopilot("approvals", "approve", approval.id, env=env_b)
            assert decided.returncode == 0, decided.stderr
            assert f"run (pid {waiting.pid}" in decided.stdout  # A owns it and goes on

            out, err = waiting.communicate(timeout=120)
            assert waiting.returncode == 0, err
            outcome = json.loads(out)
            assert outcome["status"] == "completed" and outcome["pending_approvals"] == []
            assert audit.read_text() == "as asked\n"  # ran once, on host A
            record = store.get_approval(approval.id)
            assert (record.operator, record.channel) == ("bob", "cli")  # type: ignore[union-attr]
            assert store.turn_owner(approval.turn_id) is None
            password = postgres_url.split(":")[2].split("@")[0]
            assert password not in out + err + decided.stdout + listed.stdout
    finally:
        for process in (waiting, host_b):
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
