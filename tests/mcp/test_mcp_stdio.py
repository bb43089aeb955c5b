"""The stdio transport spoken directly (opscopilot/mcp/stdio.py) against a hand-written
server: the protocol's odd corners, and no SDK loaded for a stdio server."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from opscopilot.mcp import McpServers
from opscopilot.mcp.stdio import ConnectionClosed, StdioSession

from .support import OPS_SERVER

RAW_SERVER = str(Path(__file__).parent / "servers" / "raw_server.py")
ROOT = Path(__file__).resolve().parents[2]


def test_a_hand_written_server_is_spoken_to_as_the_protocol_says(tmp_path: Path) -> None:
    log = tmp_path / "received.jsonl"
    config = {
        "mcp_servers": {
            "raw": {
                "command": [sys.executable, RAW_SERVER],
                "env": {"RAW_SERVER_LOG": str(log)},
                "timeout_s": 0.5,
            },
            "future": {"command": [sys.executable, RAW_SERVER, "--version", "2099-01-01"]},
        }
    }

    async def session() -> None:
        servers = McpServers.from_config(config, None)
        assert servers is not None
        notices = await servers.prepare("t-1")
        assert notices == [
            "MCP server future is unavailable: the server speaks MCP protocol '2099-01-01', "
            "which we do not"
        ]
        # Two pages, the nameless entry dropped, title standing in for a missing description.
        tools = {tool.name: tool for tool in servers.tools()}
        assert list(tools) == ["raw__uptime", "raw__bad_args", "raw__never"]
        assert tools["raw__bad_args"].classify({}).risk == "read"
        progress: list[str] = []
        never = await servers.call("raw", "never", {})
        assert never.status == "timeout" and "no answer within 0.5s" in never.content
        rejected = await servers.call("raw", "bad_args", {"pod": "x"})
        assert (rejected.status, rejected.content) == ("error", "bad_args: unknown argument 'pod'")
        up = await servers.call("raw", "uptime", {}, on_output=lambda _s, t: progress.append(t))
        assert up.status == "ok"
        assert up.content == "up 3 days\n[image image/png, about 3 bytes]"
        assert progress == ["progress 1/1"]
        await servers.aclose()

    anyio.run(session)
    received = [json.loads(line) for line in log.read_text().splitlines()]
    first = received[0]
    assert first["method"] == "initialize" and first["params"]["protocolVersion"] == "2025-11-25"
    assert received[1] == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    answers = {m["id"]: m for m in received if "method" not in m}
    assert answers["srv-ping"]["result"] == {}
    assert answers["srv-sample"]["error"]["code"] == -32601  # we offer no sampling
    never_id = next(m["id"] for m in received if m.get("params", {}).get("name") == "never")
    cancelled = [m for m in received if m.get("method") == "notifications/cancelled"]
    assert [m["params"]["requestId"] for m in cancelled] == [never_id]
    assert [
        m.get("params", {}).get("cursor") for m in received if m.get("method") == "tools/list"
    ] == [
        None,
        "page-2",
    ]


def test_a_stdio_server_loads_nothing_of_the_sdk_in_our_process(tmp_path: Path) -> None:
    code = (
        "import sys, anyio\n"
        "from opscopilot.mcp import McpServers\n"
        f"config = {{'mcp_servers': {{'ops': {{'command': [sys.executable, {OPS_SERVER!r}]}}}}}}\n"
        "async def main():\n"
        "    servers = McpServers.from_config(config, None)\n"
        "    assert await servers.prepare('t') == []\n"
        "    result = await servers.call('ops', 'disk_usage', {'mount': '/data'})\n"
        "    await servers.aclose()\n"
        "    print(result.content)\n"
        "anyio.run(main)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["/data: 91% used, 4.2G free (test figures)", "[]"]


def test_a_server_gone_before_our_request_is_written_leaves_no_stray_error() -> None:
    """The write fails (the server closed its stdin): the request raises ConnectionClosed
    once, and no future is left holding an error nobody reads (the event loop would report
    it, and a TUI test runner fails on it)."""
    loop_errors: list[str] = []
    closes_stdin = "import os, sys, time; os.close(0); print('closed', flush=True); time.sleep(30)"

    async def session() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: loop_errors.append(context["message"]))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            closes_stdin,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        assert await process.stdout.readline() == b"closed\n"  # its stdin is gone now
        stdio = StdioSession(process)
        with pytest.raises(ConnectionClosed):
            await stdio.request("initialize", {})
        process.kill()
        await stdio.aclose(0)
        gc.collect()

    asyncio.run(session())
    gc.collect()
    assert loop_errors == []
