"""Every configured MCP server of one process: started lazily (when a turn first needs its
tools), in parallel, each within its start-up timeout. A server that dies is restarted once
per turn; otherwise it is unavailable, said in one line to the operator (a Notice) and to
the model (its calls answer that it is unavailable), and the turn goes on."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from opscopilot.mcp.config import ServerConfig, servers_from_config
from opscopilot.mcp.connection import ServerConnection, ServerUnavailable
from opscopilot.mcp.listing_cache import ListingCache
from opscopilot.tools.base import OutputCallback, ToolResult

OUTPUT_LIMIT = 64 * 1024  # like a built-in tool's output cap
# Only streamable HTTP servers need the SDK; stdio is spoken directly (stdio.py).
_SDK_MODULES = ("mcp", "mcp.client.streamable_http", "mcp.shared._httpx_utils")


def _import_sdk() -> None:
    import importlib

    for name in _SDK_MODULES:
        importlib.import_module(name)


async def load_sdk() -> None:
    """Import the SDK (about a second of CPU) in a worker thread, off the event loop, so a
    model stream that already runs is not held up; ImportError when the extra is missing."""
    if all(name in sys.modules for name in _SDK_MODULES):
        return
    await anyio.to_thread.run_sync(_import_sdk)


class McpServers:
    """The process's MCP servers, their connections and the tools they offer."""

    def __init__(self, configs: list[ServerConfig], cache_folder: Path | None = None) -> None:
        self.cache = ListingCache(cache_folder)
        self.connections = {config.name: ServerConnection(config) for config in configs}
        for conn in self.connections.values():
            conn.tools = self.cache.get(conn.config) or []
        self._turn: str | None = None
        self._started: set[str] = set()  # start attempts this turn
        self._restarted: set[str] = set()  # restarts after a death this turn
        self._died: set[str] = set()  # were ready, then broke
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._deferred: set[str] = set()  # to start once the model call is under way
        self._notices: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tools: list[Any] | None = None

    @classmethod
    def from_config(
        cls, config_dict: Mapping[str, Any], cache_folder: Path | None = None
    ) -> McpServers | None:
        """None when no server is configured (then nothing of the SDK is ever imported)."""
        configs = servers_from_config(config_dict)
        return cls(configs, cache_folder) if configs else None

    def __len__(self) -> int:
        return len(self.connections)

    async def prepare(self, turn_id: str, *, live: bool = True) -> list[str]:
        """Start what this turn may start, all at once, in the background; the lines the
        operator should see. With `live`, wait until every start is over (a call's risk is
        judged on the live listing). Without, start and wait for only the servers whose
        tools are unknown (no earlier listing); those with a kept listing start when
        `start_deferred` says the model call is under way, so that neither its request nor
        the servers' own start (a second of CPU each for a Python server) waits on the other."""
        loop = self._bind_loop()
        if turn_id != self._turn:
            self._turn = turn_id
            self._started.clear()
            self._restarted.clear()
        for conn in self.connections.values():
            if conn.name in self._starting or conn.name in self._deferred:
                continue
            if self._may_start(conn):
                conn.state, conn.problem = "starting", None
                if live or not conn.tools:
                    self._starting[conn.name] = loop.create_task(self._start(conn))
                else:
                    self._deferred.add(conn.name)
        if live:
            self.start_deferred()
        waiting = [
            task
            for name, task in self._starting.items()
            if live or not self.connections[name].tools
        ]
        if waiting:
            await asyncio.wait(waiting)
        for name, task in list(self._starting.items()):
            if task.done():
                del self._starting[name]
                self._tools = None
                conn = self.connections[name]
                if conn.state != "ready":
                    self._notices.append(f"MCP server {name} is unavailable: {conn.problem}")
                self._died.discard(name)
        notices, self._notices = self._notices, []
        return notices

    def start_deferred(self) -> None:
        """Start the servers a kept listing let the model call begin without (the runtime
        calls this once the model is answering); at once, in the background."""
        if not self._deferred or self._loop is None:
            return
        for name, conn in self.connections.items():
            if name in self._deferred:
                self._starting[name] = self._loop.create_task(self._start(conn))
        self._deferred.clear()

    async def _start(self, conn: ServerConnection) -> None:
        if conn.config.url:
            try:
                await load_sdk()
            except ImportError:
                conn.state, conn.problem = (
                    "failed",
                    "a url server needs the MCP SDK: pip install 'opscopilot[mcp]'",
                )
                return
        await conn.start()
        if conn.state == "ready":
            self.cache.put(conn.config, conn.tools)

    def _may_start(self, conn: ServerConnection) -> bool:
        if conn.state in ("ready", "starting"):
            return False
        if conn.name in self._died:
            if conn.name in self._restarted:
                return False
            self._restarted.add(conn.name)
            self._started.add(conn.name)
            return True
        if conn.name in self._started:
            return False
        self._started.add(conn.name)
        return True

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        """Connections live on one event loop; a new loop (a new anyio.run) starts afresh."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            for name, conn in list(self.connections.items()):
                fresh = ServerConnection(conn.config)
                fresh.tools = conn.tools
                self.connections[name] = fresh
            self._died.clear()
            self._starting.clear()
            self._deferred.clear()
            self._turn = None
        self._loop = loop
        return loop

    def tools(self) -> list[Any]:
        """The tools the model may call: every offered tool of each server that listed them
        (a server that died keeps its listing; its calls answer that it is unavailable)."""
        from opscopilot.mcp.tool import McpTool

        if self._tools is None:
            self._tools = [
                McpTool(self, conn.config, listed)
                for conn in self.connections.values()
                for listed in conn.tools
                if conn.config.offers(listed.name)
            ]
        return self._tools

    def unavailable_note(self) -> str | None:
        """A sentence for the model about servers whose tools it cannot have now."""
        down = [
            f"{conn.name} ({conn.problem})"
            for conn in self.connections.values()
            if conn.state == "failed" and not conn.tools
        ]
        if not down:
            return None
        return "These MCP tool servers are unavailable now; their tools cannot be used: " + (
            "; ".join(down)
        )

    async def call(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
    ) -> ToolResult:
        """One call; a dead or missing server is an error result, never an exception."""
        from opscopilot.redact import redact
        from opscopilot.tools.process import CappedBuffer

        conn = self.connections[server]

        async def progress(done: float, total: float | None, message: str | None) -> None:
            if on_output is not None:
                figure = f"{done:g}/{total:g}" if total else f"{done:g}"
                on_output(
                    "stdout", redact(f"progress {figure}" + (f": {message}" if message else ""))
                )

        try:
            outcome = await conn.call(
                tool, arguments, timeout_s=conn.config.timeout_s, on_progress=progress
            )
        except TimeoutError:
            return ToolResult(
                status="timeout",
                content=f"{server}__{tool}: no answer within {conn.config.timeout_s:g}s",
            )
        except ServerUnavailable as exc:
            if exc.died:
                self._died.add(conn.name)
                again = "" if conn.name in self._restarted else "; restarting it for this turn"
                self._notices.append(f"MCP server {server} {exc}{again}")
            return ToolResult(
                status="error",
                content=redact(
                    f"MCP server {server} is unavailable ({exc}); {tool} did not run "
                    "or its outcome is unknown. It was not retried."
                ),
            )
        buffer = CappedBuffer(OUTPUT_LIMIT)
        buffer.add(outcome.text.encode("utf-8", errors="replace"))
        return ToolResult(
            status="error" if outcome.is_error else "ok",
            content=redact(buffer.text()),
            truncated=buffer.truncated,
        )

    def status(self) -> list[dict[str, Any]]:
        """Each server, its state and its tools with their risk (for `mcp list`, doctor, TUI)."""
        from opscopilot.mcp.tool import model_name, risk_of

        rows = []
        for conn in self.connections.values():
            config = conn.config
            rows.append(
                {
                    "name": conn.name,
                    "transport": config.transport,
                    "where": config.where(),
                    "trusted": config.trusted,
                    "state": conn.state,
                    "problem": conn.problem,
                    "tools": [
                        {
                            "name": model_name(conn.name, listed.name),
                            "tool": listed.name,
                            "risk": risk,
                            "enabled": config.offers(listed.name),
                            # read-only from a trusted server: runs in ask/read-only modes
                            "unattended": risk == "read" and config.trusted,
                        }
                        for listed in conn.tools
                        for risk in (risk_of(config, listed)[0],)
                    ],
                }
            )
        return rows

    async def aclose(self) -> None:
        if self._loop is not asyncio.get_running_loop():
            return
        for task in self._starting.values():
            task.cancel()
        async with anyio.create_task_group() as group:
            for conn in self.connections.values():
                group.start_soon(conn.stop)
