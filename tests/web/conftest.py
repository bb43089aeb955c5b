"""The real `opscopilot serve` application under uvicorn on a free loopback port, per test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from opscopilot import config


def opscopilot(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command line, as an operator runs it, on the test's OPSCOPILOT_HOME."""
    result = subprocess.run(
        [sys.executable, "-m", "opscopilot", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "USER": "terminal-ann"},
        timeout=timeout,
    )
    if check and result.returncode not in (0, 3):
        raise AssertionError(f"opscopilot {' '.join(args)}: {result.returncode}\n{result.stderr}")
    return result


def write_config(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text)
    config._cached_config.cache_clear()


def add_token(name: str) -> str:
    """`opscopilot serve token add NAME` in-process: the token from its last line."""
    from click.testing import CliRunner

    from opscopilot.cli.serve import serve

    result = CliRunner().invoke(serve, ["token", "add", name])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def request_approval(prompt: str = "restart nginx") -> tuple[str, str]:
    """Start a real turn on builtin:ops in this process until it pauses: (approval_id, turn_id)."""
    import anyio

    from opscopilot.runtime import Runtime
    from opscopilot.store import Store

    async def main():
        store = Store.open()
        runtime = Runtime(store)
        try:
            return await runtime.start_turn(None, prompt)
        finally:
            await runtime.aclose()
            store.close()

    outcome = anyio.run(main)
    assert outcome.status == "awaiting_approval", outcome
    return outcome.pending_approvals[0], outcome.turn_id


OWNER = """
import anyio, json, sys
from opscopilot.runtime import Runtime
from opscopilot.store import Store

async def main():
    store = Store.open()
    runtime = Runtime(store)
    try:
        outcome = await runtime.start_turn(None, sys.argv[1], wait_for_approval=True)
    finally:
        await runtime.aclose()
        store.close()
    print(json.dumps(outcome.to_json()))

anyio.run(main)
"""


def start_owner(prompt: str) -> subprocess.Popen:
    """Another process that starts a turn and owns it while it waits for a decision."""
    return subprocess.Popen(
        [sys.executable, "-c", OWNER, prompt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def owner_outcome(owner: subprocess.Popen) -> dict:
    """What the owner printed when its turn finished (run --json's object)."""
    import json

    out, err = owner.communicate(timeout=60)
    assert owner.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@dataclass
class LiveServer:
    url: str
    token: str
    server: object

    def client(self, token: str | None = "own", **options) -> httpx.Client:
        headers = {}
        if token == "own":
            token = self.token
        if token:
            headers["authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **options)


@pytest.fixture
def live_server(isolated_home: Path) -> Iterator[LiveServer]:
    """`opscopilot serve`'s app on 127.0.0.1:<free port>, with operator alice's token."""
    import uvicorn

    from opscopilot.web.app import create_app

    token = add_token("alice")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(public_url=url),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()

    def until_started() -> None:
        while thread.is_alive() and not server.started:
            started.wait(0.01)

    until_started()
    assert server.started, "the server did not start"
    try:
        yield LiveServer(url, token, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
