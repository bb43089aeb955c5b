"""A TUI pane's paused turn continues when ANOTHER process decides it: the real app (Pilot),
the real runtime and store, a loopback model, and `opscopilot approvals …` as a subprocess.
And a TUI killed while paused leaves its turn to `resume`."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest
from textual.widgets import Input

from opscopilot import config
from opscopilot.store import Store
from opscopilot.tui.app import create_app
from tests.runtime.support import (
    CHAT_PATH,
    TEST_KEY,
    cli_env,
    opscopilot,
    script_append_turn,
    tool_results,
    write_config,
)
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio
MODEL = "openai:gpt-4o-mini"


@pytest.fixture
def model_and_tool(wire_server, isolated_home: Path, tmp_path: Path, monkeypatch) -> Path:
    """The loopback model asks for `append_line` (a write: it asks), then answers."""
    audit = tmp_path / "audit.log"
    write_config(isolated_home, audit)
    config._cached_config.cache_clear()
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    script_append_turn(wire_server, text="from the model")
    return audit


async def _cli(*args: str, home: Path, server) -> subprocess.CompletedProcess:
    """`opscopilot …` in another process, without blocking the app's event loop."""
    env = cli_env(home, server)
    return await anyio.to_thread.run_sync(lambda: opscopilot(*args, env=env))


@pytest.mark.parametrize(
    ("decision", "expected_line", "card_status"),
    [
        (["approve"], "from the model\n", "ok"),
        (["approve", "--args", '{"text": "edited elsewhere"}'], "edited elsewhere\n", "ok"),
        (["deny", "--reason", "not during the incident"], None, "denied"),
    ],
    ids=["approve", "edit-args", "deny-with-reason"],
)
async def test_a_decision_from_another_terminal_continues_the_panes_turn(
    model_and_tool: Path, wire_server, isolated_home: Path, decision, expected_line, card_status
) -> None:
    app = create_app(model=MODEL, deterministic=True, poll_interval=0.2)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            pane = app.active_pane
            app.main_screen.query_one("#prompt", Input).value = "append a line"
            await pilot.press("enter")
            await wait_for(pilot, lambda: pane.state == "awaiting_approval" and app.pending)
            (approval,) = app.pending

            decided = await _cli(
                "approvals",
                *decision[:1],
                approval.id,
                *decision[1:],
                home=isolated_home,
                server=wire_server,
            )
            assert decided.returncode == 0, decided.stderr
            assert "tui (pid" in decided.stdout  # the pane owns the turn: it goes on by itself

            await wait_for(pilot, lambda: pane.state == "completed")
            card = pane.tool_cards[approval.tool_call_id]
            assert card.status == card_status
            await wait_for(pilot, lambda: not app.pending)
            store = app.engine.store
            events = [e for _, e in store.events(turn_id=pane.turn_id)]
            (decided_event,) = [e for e in events if e.type == "approval.decided"]
            assert decided_event.channel == "cli" and decided_event.host
            assert store.turn_owner(pane.turn_id) is None  # given up when the turn ended
    finally:
        app.engine.close()
    if expected_line is None:
        assert not model_and_tool.exists()
        told = tool_results(wire_server.requests_to(CHAT_PATH)[-1])[-1]["content"]
        assert "not during the incident" in told
    else:
        assert model_and_tool.read_text() == expected_line


class Screen:
    """Reads what the app draws on its terminal (so it never blocks writing) and says when
    a text has appeared."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = bytearray()
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            with self.changed:
                if not data:
                    self.seen += b"\0EOF"
                    self.changed.notify_all()
                    return
                self.seen += data
                del self.seen[: max(len(self.seen) - 1_000_000, 0)]
                self.changed.notify_all()

    def wait_for(self, text: bytes, timeout: float = 120) -> None:
        with self.changed:
            if not self.changed.wait_for(
                lambda: text in self.seen or b"\0EOF" in self.seen, timeout=timeout
            ):
                raise AssertionError(f"{text!r} never appeared on the terminal")
            assert text in self.seen, "the TUI exited"


def test_a_tui_killed_while_paused_leaves_its_turn_to_resume(
    model_and_tool: Path, wire_server, isolated_home: Path
) -> None:
    env = cli_env(isolated_home, wire_server) | {"TERM": "xterm-256color", "COLUMNS": "120"}
    master, slave = pty.openpty()
    tui = subprocess.Popen(
        [sys.executable, "-m", "opscopilot", "tui", "--model", MODEL],
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    screen = Screen(master)
    try:
        with Store.open(isolated_home / "opscopilot.db") as store:
            with store.watch_changes(after=0) as watch:
                screen.wait_for(b"enter to send")  # the prompt is on screen: the app reads keys
                os.write(master, b"append a line\r")
                requested = None
                for _ in range(600):  # until the turn pauses
                    changes = watch.wait(timeout=0.5)
                    requested = next((c for c in changes if c.kind == "approval.requested"), None)
                    if requested is not None:
                        break
                    assert tui.poll() is None, "the TUI exited"
                assert requested is not None, "the TUI's turn never paused"
            owner = store.live_owner(requested.turn_id, now=time.time())
            assert owner is not None and owner.kind == "tui" and owner.pid == tui.pid
            os.killpg(tui.pid, signal.SIGKILL)
            tui.wait(timeout=30)
    finally:
        if tui.poll() is None:
            os.killpg(tui.pid, signal.SIGKILL)
        os.close(master)
    env = cli_env(isolated_home, wire_server)
    approved = opscopilot("approvals", "approve", requested.key, env=env)
    assert approved.returncode == 0, approved.stderr
    assert f"opscopilot resume {requested.turn_id}" in approved.stdout  # its owner is gone
    finished = opscopilot("resume", requested.turn_id, "--json", env=env)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["status"] == "completed"
    assert model_and_tool.read_text() == "from the model\n"


async def test_a_turn_another_process_runs_in_a_shown_session_streams_into_its_pane(
    model_and_tool: Path, wire_server, isolated_home: Path
) -> None:
    env = cli_env(isolated_home, wire_server)
    first = opscopilot("run", "append a line", "--approve", "all", "--json", env=env)
    assert first.returncode == 0, first.stderr
    session_id = json.loads(first.stdout)["session_id"]
    app = create_app(model=MODEL, session_id=session_id, deterministic=True, poll_interval=0.2)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            pane = app.active_pane
            await wait_for(pilot, lambda: pane.state == "completed")  # the history, on open
            assert "Appended." in pane.last_answer_text
            second = await anyio.to_thread.run_sync(
                lambda: opscopilot(
                    "run", "and once more", "--session", session_id, "--approve", "all", env=env
                )
            )
            assert second.returncode == 0, second.stderr
            prompts = lambda: [  # noqa: E731
                str(p.render()) for p in pane.query(".user-prompt")
            ]
            await wait_for(pilot, lambda: any("and once more" in p for p in prompts()))
            await wait_for(pilot, lambda: pane.state == "completed")
            assert len(prompts()) == 2  # each turn drawn once
    finally:
        app.engine.close()
    assert model_and_tool.read_text() == "from the model\n"  # the second turn only answered


def test_a_mistyped_session_id_is_one_line_and_exit_2(isolated_home: Path) -> None:
    from click.testing import CliRunner

    from opscopilot.cli.main import cli

    result = CliRunner().invoke(cli, ["tui", "--session", "s-nope"])
    assert result.exit_code == 2
    assert "no session s-nope" in result.output
