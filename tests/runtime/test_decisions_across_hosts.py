"""Two hosts on one team store: separate processes with separate OPSCOPILOT_HOMEs on one real
PostgreSQL server. An approval host A's turn asks for is pushed to host B (LISTEN/NOTIFY, no
polling), listed there within 200 ms of the request, decided there, and A's waiting turn
(a `run --wait`) hears the decision through its own push and continues by itself.

Where the machine allows it, host B is a process in network and UTS namespaces of its own
(tests/store/hosts.py): its own hostname, no route to A's loopback, the store reached through
the server's Unix socket; the decision then records B's hostname. Elsewhere B is a plain
process beside A (that variant runs only where the namespaced one cannot)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from opscopilot.store import Store
from tests.store import hosts

from .support import ROOT, cli_env, script_append_turn, spawn, write_config

VISIBLE_WITHIN_S = 0.2
HOST_B = "host-b"


def _host(home: Path, url: str, server, operator: str) -> dict[str, str]:
    home.mkdir()
    env = cli_env(home, server)
    env.update(OPSCOPILOT_STORE=url, USER=operator)
    return env


@pytest.fixture(params=["own-namespaces", "plain-process"])
def host_b_prefix(request: pytest.FixtureRequest) -> list[str]:
    """How host B's programs start: in namespaces of their own when this machine allows it."""
    why_not = hosts.unavailable()
    if request.param == "own-namespaces":
        if why_not is not None:
            pytest.skip(f"host B in its own network namespace: {why_not}")
        return hosts.namespaced(HOST_B)
    if why_not is None:
        pytest.skip("host B runs in namespaces of its own on this machine (the other variant)")
    return []


def _on_host_b(prefix: list[str], *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "opscopilot", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _listen_on_host_b(
    prefix: list[str], url: str, env: dict[str, str], expected: int
) -> subprocess.Popen:
    """Host B: waits on its store's change watch and prints each pending approval it lists,
    with the moment it saw it (tests/store/listen_worker.py)."""
    listener = subprocess.Popen(
        [*prefix, sys.executable, "-m", "tests.store.listen_worker", url, str(expected)],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert json.loads(listener.stdout.readline()) == {"ready": True}, listener.stderr.read()
    return listener


def test_an_approval_asked_on_host_a_is_listed_and_decided_on_host_b_and_a_continues(
    wire_server, postgres_server, postgres_url: str, tmp_path: Path, host_b_prefix: list[str]
) -> None:
    audit = tmp_path / "audit.log"
    # A namespaced host B has no route to the server's TCP port: it uses the Unix socket.
    url_b = hosts.socket_url(postgres_server, postgres_url) if host_b_prefix else postgres_url
    env_a = _host(tmp_path / "host-a", postgres_url, wire_server, "ann")
    env_b = _host(tmp_path / "host-b", url_b, None, "bob")
    write_config(Path(env_a["OPSCOPILOT_HOME"]), audit)
    script_append_turn(wire_server, text="as asked")
    host_b = _listen_on_host_b(host_b_prefix, url_b, env_b, expected=1)
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

            listed = _on_host_b(host_b_prefix, "approvals", "list", "--json", env=env_b)
            assert [a["id"] for a in json.loads(listed.stdout)] == [approval.id], listed.stderr
            decided = _on_host_b(host_b_prefix, "approvals", "approve", approval.id, env=env_b)
            assert decided.returncode == 0, decided.stderr
            assert f"run (pid {waiting.pid}" in decided.stdout  # A owns it and goes on

            out, err = waiting.communicate(timeout=120)
            assert waiting.returncode == 0, err
            outcome = json.loads(out)
            assert outcome["status"] == "completed" and outcome["pending_approvals"] == []
            assert audit.read_text() == "as asked\n"  # ran once, on host A
            record = store.get_approval(approval.id)
            assert (record.operator, record.channel) == ("bob", "cli")  # type: ignore[union-attr]
            if host_b_prefix:  # decided from B's own namespace, under B's own hostname
                assert record.host == HOST_B  # type: ignore[union-attr]
            assert store.turn_owner(approval.turn_id) is None
            password = postgres_url.split(":")[2].split("@")[0]
            assert password not in out + err + decided.stdout + listed.stdout
    finally:
        for process in (waiting, host_b):
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
