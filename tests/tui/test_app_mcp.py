"""MCP in the TUI over the real runtime: an MCP call is a tool card like any other (live
progress output, its risk), and the palette's "MCP servers" entry reports each server."""

from __future__ import annotations

import pytest

from opscopilot.tui.app import create_app
from opscopilot.tui.commands import OpsCommands
from opscopilot.tui.runtime_engine import RuntimeEngine
from opscopilot.tui.widgets.tool_card import ToolCard
from tests.mcp.support import ops_server, script_model, write_mcp_config
from tests.runtime.support import TEST_KEY
from tests.tui.conftest import wait_for
from tests.tui.test_app_live import ask

pytestmark = pytest.mark.anyio


async def test_an_mcp_call_is_a_tool_card_and_the_palette_reports_the_servers(
    wire_server, isolated_home, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    write_mcp_config(isolated_home, {"ops": ops_server(), "cluster": ops_server("--fail-at-start")})
    script_model(wire_server, [[("ops__scan_logs", {"steps": 3})]])
    engine = RuntimeEngine()
    app = create_app(engine=engine, deterministic=True, poll_interval=0.2)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        pane = app.active_pane
        await ask(pilot, app, "scan the logs")
        await wait_for(pilot, lambda: pane.state == "completed", timeout=60)
        card = pane.query_one(ToolCard)
        assert (card.tool_name, card.risk, card.status) == ("ops__scan_logs", "read", "ok")
        assert "progress 3/3: scanned part 3" in card.output
        notes = [str(note.render()) for note in pane.query(".notice")]
        assert any("MCP server cluster is unavailable" in note for note in notes), notes

        titles = [hit.text for hit in [h async for h in OpsCommands(app.screen).discover()]]
        assert "MCP servers" in titles
        await app.run_action("mcp_servers")
        await wait_for(
            pilot,
            lambda: any(n.title == "MCP servers" for n in app._notifications),
            timeout=60,
        )
        (report,) = [n for n in app._notifications if n.title == "MCP servers"]
        assert "ops: ready · 9 tools (7 run without a person)" in report.message
        assert "cluster: failed — exited: error: cannot reach the cluster API" in report.message
    engine.close()
