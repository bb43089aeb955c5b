"""One MCP server connection: stdio spoken directly (stdio.py), streamable HTTP on the
official SDK (`mcp`, the `opscopilot[mcp]` extra).

A session is an async context manager (the SDK's task group must be entered and left by one
task), so each connection lives in its own host task on the running event loop: it starts
the server, lists its tools, and holds the session open until `stop()`. Calls come from the
turn's task through the open session. Both transports answer in the protocol's own JSON
shapes (the SDK's results are dumped by alias), so listing and rendering are written once.
The server's stderr goes to a pipe whose last lines (redacted) explain a crash in one line;
it never reaches the operator's screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from opscopilot import __version__
from opscopilot.mcp.config import McpConfigError, ServerConfig
from opscopilot.mcp.stdio import ConnectionClosed, RpcError, stdio_session
from opscopilot.redact import redact

State = Literal["stopped", "starting", "ready", "failed"]
ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]
_STDERR_LINES_KEPT = 20
_LIST_PAGES = 50  # a paginator that never ends cannot hang the start


class ServerUnavailable(Exception):
    """The server is not running (it failed to start or died); the message is one line.
    `died` says it broke under this very call (it was up when the call began)."""

    def __init__(self, message: str, *, died: bool = False) -> None:
        super().__init__(message)
        self.died = died


@dataclass(frozen=True)
class ListedTool:
    """A tool as the server listed it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool | None
    destructive: bool | None


@dataclass(frozen=True)
class CallOutcome:
    """What a tools/call returned: the content blocks rendered as text, and whether it failed."""

    text: str
    is_error: bool


def one_line(error: BaseException) -> str:
    """The most telling line of an exception (the SDK wraps them in exception groups)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error).strip().splitlines()
    return redact(text[0] if text else type(error).__name__)


class _StderrTail:
    """A pipe for the server's stderr whose last lines are kept in memory, never on disk."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w")
        self._lines: deque[str] = deque(maxlen=_STDERR_LINES_KEPT)
        self._thread = threading.Thread(target=self._drain, args=(read_fd,), daemon=True)
        self._thread.start()

    def _drain(self, read_fd: int) -> None:
        with os.fdopen(read_fd, "r", errors="replace") as reader:
            for line in reader:
                if line.strip():
                    self._lines.append(line.rstrip()[:500])

    def release_writer(self) -> None:
        """Close our copy of the write end (the child holds its own), so EOF comes at exit."""
        with contextlib.suppress(OSError):
            self.writer.close()

    async def settle(self, timeout_s: float = 1.0) -> None:
        """Wait (bounded) until a server that is gone has said its last words: its stdout
        can end before its stderr's last line reaches us."""
        self.release_writer()
        await anyio.to_thread.run_sync(self._thread.join, timeout_s)

    def last_line(self) -> str | None:
        for line in reversed(self._lines):
            if not line.startswith(("Traceback", "  ")):
                return redact(line)
        return None


class ServerConnection:
    """One configured server: its state, its last tool listing and its open session."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.state: State = "stopped"
        self.problem: str | None = None
        self.tools: list[ListedTool] = []
        self.starts = 0
        self._session: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._stderr: _StderrTail | None = None

    @property
    def name(self) -> str:
        return self.config.name

    async def start(self) -> None:
        """Start the server and wait until it listed its tools or failed (bounded)."""
        if self.state == "ready":
            return
        await self.stop()
        self.state, self.problem = "starting", None
        self.starts += 1
        self._ready, self._stop = asyncio.Event(), asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._host(), name=f"mcp server {self.name}"
        )
        timeout = self.config.startup_timeout_s
        with anyio.move_on_after(timeout):
            await self._ready.wait()
        if not self._ready.is_set():
            await self.stop()
            self.state = "failed"
            self.problem = f"did not answer within {timeout:g}s"

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        if not task.done() and self.state == "starting":
            task.cancel()  # still connecting: nothing to close politely
        if not task.done():
            with anyio.move_on_after(5):
                await asyncio.wait({task})
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self.state in ("ready", "starting"):
            self.state = "stopped"

    def mark_dead(self, reason: str) -> None:
        """The session broke under a call: the server is gone until it is restarted."""
        self.state = "failed"
        detail = self._stderr.last_line() if self._stderr else None
        self.problem = f"{reason}: {detail}" if detail else reason
        self._stop.set()

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        timeout_s: float,
        on_progress: ProgressCallback | None = None,
    ) -> CallOutcome:
        """One tools/call; ServerUnavailable when the server is not there or dies under it."""
        session = self._session
        if self.state != "ready" or session is None:
            raise ServerUnavailable(self.problem or "not running")
        try:
            with anyio.fail_after(timeout_s):
                result = await session.call_tool(
                    tool, arguments, timeout_s=timeout_s, on_progress=on_progress
                )
        except TimeoutError:
            raise
        except RpcError as exc:
            return CallOutcome(text=redact(f"{tool}: {exc.message}"), is_error=True)
        except ConnectionClosed:
            if self._stderr is not None:
                await self._stderr.settle()
            self.mark_dead("stopped during the call")
            raise ServerUnavailable(self.problem or "stopped", died=True) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            self.mark_dead(f"connection lost ({one_line(exc)})")
            raise ServerUnavailable(self.problem or "stopped", died=True) from None
        return CallOutcome(text=render_result(result), is_error=bool(result.get("isError")))

    # --- the host task -------------------------------------------------------------

    async def _host(self) -> None:
        try:
            async with self._open() as session:
                if self._stderr is not None:
                    self._stderr.release_writer()
                self.tools = await _list_tools(session)
                self._session = session
                self.state = "ready"
                self._ready.set()
                await self._stop.wait()
        except McpConfigError as exc:
            self._fail(str(exc))
        except asyncio.CancelledError:
            self._fail("stopped")
            raise
        except ConnectionClosed as exc:
            if self._stderr is not None:
                await self._stderr.settle()
            self._fail(str(exc))
        except BaseException as exc:
            self._fail(one_line(exc))
        finally:
            self._session = None
            if self._stderr is not None:
                self._stderr.release_writer()
            self._ready.set()

    def _fail(self, reason: str) -> None:
        if self.state == "failed" and self.problem:
            return  # mark_dead already said why
        detail = self._stderr.last_line() if self._stderr else None
        if self.state == "ready" and not self._stop.is_set():
            reason = "stopped"
        elif detail and reason.startswith("Connection closed"):
            reason = "exited"  # the server's own last words say more
        self.state = "failed"
        self.problem = f"{reason}: {detail}" if detail and detail not in reason else reason

    def _open(self) -> contextlib.AbstractAsyncContextManager[Any]:
        config = self.config
        if config.command:
            argv, env = config.expanded_command(), config.expanded_env()
            self._stderr = _StderrTail()
            return _StdioClient.open(argv, env, config.cwd, self._stderr.writer)
        return _SdkClient.open(config.expanded_url(), config.expanded_headers())


class _StdioClient:
    """The two requests a connection makes, over our own stdio session."""

    def __init__(self, session: Any) -> None:
        self.session = session

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, argv: list[str], env: dict[str, str], cwd: str | None, errlog: Any
    ) -> AsyncIterator[_StdioClient]:
        async with stdio_session(argv, env, cwd, errlog, __version__) as session:
            yield cls(session)

    async def list_tools(self, cursor: str | None) -> dict[str, Any]:
        return await self.session.request("tools/list", {"cursor": cursor} if cursor else {})

    async def call_tool(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        timeout_s: float,
        on_progress: ProgressCallback | None,
    ) -> dict[str, Any]:
        params = {"name": tool, "arguments": arguments}
        return await self.session.request("tools/call", params, on_progress=on_progress)


class _SdkClient:
    """The same two requests over the SDK's streamable HTTP client, answered as JSON."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, headers: dict[str, str]) -> AsyncIterator[_SdkClient]:
        from mcp import Client
        from mcp_types import Implementation

        async with Client(
            _http_transport(url, headers),
            client_info=Implementation(name="opscopilot", version=__version__),
        ) as client:
            yield cls(client)

    async def list_tools(self, cursor: str | None) -> dict[str, Any]:
        page = await self.client.list_tools(cursor=cursor)
        return page.model_dump(by_alias=True, mode="json", exclude_none=True)

    async def call_tool(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        timeout_s: float,
        on_progress: ProgressCallback | None,
    ) -> dict[str, Any]:
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        try:
            result = await self.client.call_tool(
                tool, arguments, read_timeout_seconds=timeout_s, progress_callback=on_progress
            )
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                raise ConnectionClosed(exc.error.message) from None
            raise RpcError(exc.code, exc.error.message) from None
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)


@contextlib.asynccontextmanager
async def _http_transport(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    """Streamable HTTP with the operator's headers (the SDK's client takes them this way)."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with (
        create_mcp_http_client(headers=headers) as http_client,
        streamable_http_client(url, http_client=http_client) as streams,
    ):
        yield streams


def listed_tool(tool: Any) -> ListedTool | None:
    """A tools/list entry as we keep it; None for one without a usable name."""
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
        return None
    hints = tool.get("annotations")
    hints = hints if isinstance(hints, dict) else {}
    schema = tool.get("inputSchema")
    description = tool.get("description") or tool.get("title") or ""
    return ListedTool(
        name=tool["name"],
        description=description.strip() if isinstance(description, str) else "",
        input_schema=dict(schema) if isinstance(schema, dict) else {"type": "object"},
        read_only=hints.get("readOnlyHint")
        if isinstance(hints.get("readOnlyHint"), bool)
        else None,
        destructive=(
            hints.get("destructiveHint") if isinstance(hints.get("destructiveHint"), bool) else None
        ),
    )


async def _list_tools(client: Any) -> list[ListedTool]:
    listed: list[ListedTool] = []
    cursor = None
    for _ in range(_LIST_PAGES):
        page = await client.list_tools(cursor)
        tools = page.get("tools")
        for tool in tools if isinstance(tools, list) else []:
            if (kept := listed_tool(tool)) is not None:
                listed.append(kept)
        cursor = page.get("nextCursor")
        if not cursor or not isinstance(cursor, str):
            break
    return listed


def render_result(result: dict[str, Any]) -> str:
    """A CallToolResult (as JSON) as text for the model: text blocks, then structured
    content when no text carries it, and a one-line stand-in for images, audio and resources."""
    import json

    parts: list[str] = []
    content = result.get("content")
    for block in content if isinstance(content, list) else []:
        block = block if isinstance(block, dict) else {}
        kind = block.get("type", "")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind in ("image", "audio"):
            size = len(str(block.get("data") or "")) * 3 // 4
            parts.append(f"[{kind} {block.get('mimeType', '')}, about {size} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.get('uri', '')}]")
        elif kind == "resource":
            resource = block.get("resource")
            resource = resource if isinstance(resource, dict) else {}
            text = resource.get("text")
            parts.append(str(text) if text is not None else f"[resource {resource.get('uri', '')}]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    structured = result.get("structuredContent")
    if structured is not None and not any(p.strip() for p in parts):
        parts.append(json.dumps(structured, indent=1, default=str))
    return "\n".join(parts)
