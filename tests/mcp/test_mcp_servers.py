"""McpServers in-process over a real stdio server: the kept listing lets a model call start
before the servers are up (they start once it is under way); the risk is judged on the live
listing."""

from __future__ import annotations

from pathlib import Path

import anyio

from opscopilot.mcp import McpServers

from .support import ops_server


def test_a_kept_listing_offers_the_tools_at_once_while_the_server_starts(tmp_path: Path) -> None:
    config = {"mcp_servers": {"ops": ops_server(enabled_tools=["disk_usage", "delete_volume"])}}

    async def first_run() -> list[str]:
        servers = McpServers.from_config(config, tmp_path)
        assert servers is not None and servers.tools() == []  # nothing known yet
        assert await servers.prepare("t-1", live=False) == []  # so the model call waited
        assert servers.connections["ops"].state == "ready"
        names = [tool.name for tool in servers.tools()]
        await servers.aclose()
        return names

    async def later_run() -> None:
        servers = McpServers.from_config(config, tmp_path)
        assert servers is not None
        assert [tool.name for tool in servers.tools()] == names  # from mcp-tools.json
        await servers.prepare("t-2", live=False)
        assert servers.connections["ops"].state == "starting"  # the model call did not wait
        assert servers._starting == {}  # nor does its request share the CPU with the start
        servers.start_deferred()  # the model is answering: the server starts now
        assert list(servers._starting) == ["ops"]
        await servers.prepare("t-2")  # judging a call waits for the live listing
        assert servers.connections["ops"].state == "ready"
        risks = {tool.name: tool.classify({}).risk for tool in servers.tools()}
        assert risks == {"ops__disk_usage": "read", "ops__delete_volume": "destructive"}
        result = await servers.call("ops", "disk_usage", {"mount": "/srv"})
        assert result.status == "ok" and "/srv: 91% used" in result.content
        await servers.aclose()

    names = anyio.run(first_run)
    assert names == ["ops__disk_usage", "ops__delete_volume"]
    assert (tmp_path / "mcp-tools.json").exists()
    anyio.run(later_run)
