"""The OS sandbox: what an unattended call can and cannot do, for real, under bubblewrap."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import anyio
import pytest

from opscopilot.tools import sandbox
from opscopilot.tools.process import run_process
from tests.runtime.support import CHAT_PATH, cli_env, opscopilot, text_reply, tool_call_reply
from tests.support import system_packages

pytestmark = pytest.mark.usefixtures("bwrap")


@pytest.fixture
def bwrap() -> str:
    return system_packages.require("bwrap")


def confined_run(argv: list[str], cwd: str | None = None) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        with sandbox.confined():
            result = await run_process(argv, cwd=cwd, timeout_s=20)
        return result.status, result.content

    return anyio.run(go)


def test_the_sandbox_works_on_this_host_and_drops_every_capability() -> None:
    assert sandbox.status().available, sandbox.status().reason
    status, content = confined_run(["grep", "-E", "^(CapEff|NoNewPrivs)", "/proc/self/status"])
    assert status == "ok"
    # Root inside without --cap-drop ALL could remount / read-write.
    assert "CapEff:\t0000000000000000" in content and "NoNewPrivs:\t1" in content


def test_a_confined_call_cannot_write_outside_its_scratch(tmp_path: Path) -> None:
    target = tmp_path / "written"
    script = f"echo x > /tmp/scratch && cat /tmp/scratch && echo y > {target}"
    status, content = confined_run(["sh", "-c", script], cwd=str(tmp_path))
    assert status == "error" and content.startswith("x\n")  # the scratch works
    assert "Read-only file system" in content
    assert not target.exists()
    _, content = confined_run(["touch", "/etc/opscopilot-sandbox-canary"])
    assert "Read-only file system" in content
    assert not Path("/etc/opscopilot-sandbox-canary").exists()


def test_secrets_and_the_opscopilot_database_are_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The home lives inside the call's folder, which the sandbox shows: only the hiding is
    # between the program and the secrets.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "x").write_text("ssh-secret-canary\n")
    (home / ".netrc").write_text("machine h login u password netrc-canary\n")
    (home / "notes.txt").write_text("ordinary notes\n")
    ops_home = home / "ops"
    ops_home.mkdir()
    (ops_home / "opscopilot.db").write_text("db-canary\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPSCOPILOT_HOME", str(ops_home))

    _, content = confined_run(["cat", "notes.txt"], cwd=str(home))
    assert content == "ordinary notes\n"
    for path in (home / ".ssh" / "x", home / ".netrc", ops_home / "opscopilot.db"):
        status, content = confined_run(["cat", str(path)], cwd=str(home))
        assert status == "error" and "canary" not in content, path
    _, listing = confined_run(["ls", "-a", str(home / ".ssh")], cwd=str(home))
    assert "x" not in listing.split()


def test_other_processes_and_their_environments_are_not_visible() -> None:
    env = dict(os.environ, OPSCOPILOT_ENV_CANARY="environ-canary-1234")
    other = subprocess.Popen(["sleep", "300"], env=env)
    try:
        status, content = confined_run(["cat", f"/proc/{other.pid}/environ"])
        assert status == "error" and "environ-canary" not in content
        _, listing = confined_run(["ls", "/proc"])
        assert str(other.pid) not in listing.split()
    finally:
        other.kill()
        other.wait()


def test_the_network_is_off_unless_the_program_is_a_network_probe() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    try:
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 3); print('in')"
        status, content = confined_run([sys.executable, "-c", probe])
        assert status == "error" and "in\n" not in content
        assert "Connection refused" in content or "unreachable" in content
        curl = system_packages.find("curl")
        if curl is not None:  # a network probe reaches the listener (and still sees no secret)
            reached: list[bool] = []

            def answer() -> None:
                accepted, _ = listener.accept()
                reached.append(True)
                accepted.sendall(b"HTTP/1.0 204 No Content\r\n\r\n")
                accepted.close()

            listener.settimeout(20)
            waiter = threading.Thread(target=answer)
            waiter.start()
            status, content = confined_run([curl, "-s", "-m", "15", f"http://127.0.0.1:{port}/"])
            waiter.join()
            assert reached and status == "ok", content
    finally:
        listener.close()


def test_a_confined_program_dies_with_its_parent(tmp_path: Path) -> None:
    marker = f"417.{os.getpid()}"  # `sleep 417.PID` names this test's process on the host
    parent_script = textwrap.dedent(
        f"""
        import anyio, sys
        from opscopilot.tools import sandbox
        from opscopilot.tools.process import run_process

        def out(stream, text):
            print(text, flush=True)

        async def main():
            with sandbox.confined():
                await run_process(["sh", "-c", "echo ready; exec sleep {marker}"],
                                  timeout_s=600, on_output=out)

        anyio.run(main)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert parent.stdout is not None
    assert parent.stdout.readline().strip() == "ready"
    # `ready` is printed before sh execs sleep: wait for the exec, not for a fixed time.
    deadline = time.monotonic() + 20
    while not _sleepers(marker) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _sleepers(marker), "the confined program should be running"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while _sleepers(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _sleepers(marker)


def _sleepers(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline[:2] == [b"sleep", marker.encode()]:
                found.append(int(entry))
    return found


def test_program_profiles_step_over_wrappers_and_fail_closed() -> None:
    assert sandbox.program_of(["sudo", "timeout", "5", "curl", "-sI", "x"]) == "curl"
    assert sandbox.program_of(["env", "A=1", "/usr/bin/ss", "-tlnp"]) == "ss"
    assert sandbox.program_of(["grep", "curl", "f"]) == "grep"  # a word is not a program
    assert sandbox.needs_of("grep") == frozenset()
    assert sandbox.NET in sandbox.needs_of("dig") and sandbox.PIDS in sandbox.needs_of("ps")


# --------------------------------------------------------------------- through the runtime


def _script_one_call(server, command: str) -> None:
    def answer(request):
        if not [m for m in request.json()["messages"] if m.get("role") == "tool"]:
            return tool_call_reply(("call_1", "run_command", {"command": command}))
        return text_reply("done.")

    server.handle(CHAT_PATH, answer)


def test_an_approved_call_runs_unconfined_and_an_always_allowed_one_confined(
    wire_server, isolated_home: Path, tmp_path: Path
) -> None:
    env = cli_env(isolated_home, wire_server)
    (isolated_home / "config.toml").write_text('[defaults]\nmodel = "openai:gpt-4o-mini"\n')
    approved_file = tmp_path / "approved"
    _script_one_call(wire_server, f"touch {approved_file}")
    paused = opscopilot("run", "touch it", "--json", env=env)
    assert paused.returncode == 3, paused.stderr
    outcome = json.loads(paused.stdout)
    (approval_id,) = outcome["pending_approvals"]
    assert opscopilot("approvals", "approve", approval_id, env=env).returncode == 0
    resumed = opscopilot("resume", outcome["turn_id"], "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert approved_file.exists()  # as approved: on the host

    # A tool-wide always-allow rule is nobody's decision about these arguments: confined.
    (isolated_home / "config.toml").write_text(
        '[defaults]\nmodel = "openai:gpt-4o-mini"\n[approvals]\nallow = ["run_command"]\n'
    )
    allowed_file = tmp_path / "allowed"
    _script_one_call(wire_server, f"touch {allowed_file}")
    ran = opscopilot("run", "touch it", "--json", env=env)
    assert ran.returncode in (0, 1), ran.stderr
    # It ran (not denied, not asked), and what it wrote stayed in its private scratch.
    assert json.loads(ran.stdout)["tool_calls"][0]["status"] in ("ok", "error")
    assert not allowed_file.exists()


def test_without_the_sandbox_read_calls_ask_and_doctor_says_why(
    wire_server, isolated_home: Path
) -> None:
    env = cli_env(isolated_home, wire_server)
    env["OPSCOPILOT_BWRAP"] = str(isolated_home / "no-such-bwrap")
    (isolated_home / "config.toml").write_text('[defaults]\nmodel = "openai:gpt-4o-mini"\n')
    _script_one_call(wire_server, "uptime")
    paused = opscopilot("run", "how loaded is it", "--json", env=env)
    assert paused.returncode == 3, paused.stderr
    (approval_id,) = json.loads(paused.stdout)["pending_approvals"]
    shown = json.loads(opscopilot("approvals", "show", approval_id, "--json", env=env).stdout)
    assert "no OS sandbox on this host" in shown["reason"]
    assert "no-such-bwrap" in shown["reason"]

    report = opscopilot("doctor", "--json", env=env)
    document = json.loads(report.stdout)
    (check,) = [c for c in document["checks"] if c["name"] == "sandbox"]
    assert check["status"] == "warn" and check["detail"]["available"] is False
    assert "no-such-bwrap" in check["summary"]

    _script_one_call(wire_server, "uptime")
    denied = opscopilot("run", "how loaded is it", "--approve", "read-only", "--json", env=env)
    call = json.loads(denied.stdout)["tool_calls"][0]
    assert call["status"] == "denied"  # read-only mode never pauses: it denies instead


def test_a_root_daemons_socket_is_reachable_only_by_its_own_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for docker.sock, in the call's folder (shown read-only, like /run is).
    path = tmp_path / "engine.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(4)
    monkeypatch.setitem(sandbox._DAEMON_SOCKETS, sandbox.DOCKER, (str(path),))
    try:
        probe = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({str(path)!r}); print('in')"
        status, content = confined_run([sys.executable, "-c", probe], cwd=str(tmp_path))
        assert status == "error" and "in\n" not in content
        assert str(path) in sandbox.hidden_paths("cat")
        assert str(path) not in sandbox.hidden_paths("docker")
    finally:
        server.close()
