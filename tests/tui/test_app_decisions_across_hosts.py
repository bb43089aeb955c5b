"""The TUI on a team store (a real PostgreSQL server): its reviews panel and its paused turns
hear other hosts through the store's pushes, not a timer. Host A's TUI pane pauses, host B
(another process, another OPSCOPILOT_HOME) approves, A's turn continues; and host B's TUI
lists an approval host A's `run --wait` asks for, and decides it."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from textual.widgets import Input

from opscopilot import config
from opscopilot.store import Store
from opscopilot.tui import app as app_module
from opscopilot.tui.app import create_app
from tests.runtime.support import (
    TEST_KEY,
    cli_env,
    opscopilot,
    script_append_turn,
    spawn,
    write_config,
)
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio
MODEL = "openai:gpt-4o-mini"


@pytest.fixture
def team(wire_server, isolated_home: Path, tmp_path: Path, postgres_url: str, monkeypatch):
    """This process is host A on the team store; `other` is host B's environment."""
    audit = tmp_path / "audit.log"
    write_config(isolated_home, audit)
    config._cached_config.cache_clear()
    monkeypatch.setenv("OPSCOPILOT_STORE", postgres_url)
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    # Only a push can redraw the panel within a test: the slow safety refresh never comes.
    monkeypatch.setattr(app_module, "SAFETY_REFRESH_S", 3600.0)
    script_append_turn(wire_server, text="from the model")
    home_b = tmp_path / "host-b"
    home_b.mkdir()
    write_config(home_b, audit)
    other = cli_env(home_b, wire_server)
    other.update(OPSCOPILOT_STORE=postgres_url, USER="bob")
    return audit, other


async def test_host_b_approves_and_host_a_tui_turn_continues(team) -> None:
    audit, host_b = team
    app = create_app(model=MODEL, deterministic=True)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            pane = app.active_pane
            app.main_screen.query_one("#prompt", Input).value = "append a line"
            await pilot.press("enter")
            await wait_for(pilot, lambda: pane.state == "awaiting_approval" and app.pending)
            (approval,) = app.pending
            decided = await anyio.to_thread.run_sync(
                lambda: opscopilot("approvals", "approve", approval.id, env=host_b)
            )
            assert decided.returncode == 0, decided.stderr
            assert "tui (pid" in decided.stdout  # host A's pane owns the turn
            await wait_for(pilot, lambda: pane.state == "completed")
            await wait_for(pilot, lambda: not app.pending)  # the push redrew the panel
            record = app.engine.store.get_approval(approval.id)
            assert (record.operator, record.channel) == ("bob", "cli")
    finally:
        app.engine.close()
    assert audit.read_text() == "from the model\n"


async def test_host_b_tui_lists_host_a_approval_on_the_push_and_decides_it(team) -> None:
    audit, host_a_env = team  # here this process is host B; the subprocess is host A
    app = create_app(model=MODEL, deterministic=True)
    waiting = None
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            waiting = spawn("run", "append a line", "--wait", "--json", env=host_a_env)
            await wait_for(pilot, lambda: bool(app.pending))
            (approval,) = app.pending
            app.record_decision(approval, "approved")  # what the panel's approve key does
            out, err = await anyio.to_thread.run_sync(lambda: waiting.communicate(timeout=120))
            assert waiting.returncode == 0, err
            assert json.loads(out)["status"] == "completed"
            await wait_for(pilot, lambda: not app.pending)
    finally:
        if waiting is not None and waiting.poll() is None:
            waiting.kill()
            waiting.communicate(timeout=30)
        app.engine.close()
    assert audit.read_text() == "from the model\n"
    with Store.open() as store:
        record = store.get_approval(approval.id)
        assert record is not None and record.channel == "tui"
