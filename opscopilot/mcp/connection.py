"""One MCP server connection on the official SDK (`mcp`, the `opscopilot[mcp]` extra).

The SDK's client is an async context manager whose task group must be entered and left by
one task, so each connection lives in its own host task on the running event loop: it
starts the server, lists its tools, and holds the session open until `stop()`. Calls come
from the turn's task through the open session. The server's stderr goes to a pipe whose
last lines (redacted) explain a crash in one line; it never reaches the operator's screen.
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
        self._client: Any = None
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
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        client = self._client
        if self.state != "ready" or client is None:
            raise ServerUnavailable(self.problem or "not running")
        try:
            with anyio.fail_after(timeout_s):
                result = await client.call_tool(
                    tool, arguments, read_timeout_seconds=timeout_s, progress_callback=on_progress
                )
        except TimeoutError:
            raise
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self.mark_dead("stopped during the call")
                raise ServerUnavailable(self.problem or "stopped", died=True) from None
            return CallOutcome(text=redact(f"{tool}: {exc.error.message}"), is_error=True)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            self.mark_dead(f"connection lost ({one_line(exc)})")
            raise ServerUnavailable(self.problem or "stopped", died=True) from None
        return CallOutcome(text=render_result(result), is_error=bool(result.is_error))

    # --- the host task -------------------------------------------------------------

    async def _host(self) -> None:
        try:
            from mcp import Client
            from mcp_types import Implementation

            async with Client(
                self._target(),
                client_info=Implementation(name="opscopilot", version=__version__),
            ) as client:
                if self._stderr is not None:
                    self._stderr.release_writer()
                self.tools = await _list_tools(client)
                self._client = client
                self.state = "ready"
                self._ready.set()
                await self._stop.wait()
        except McpConfigError as exc:
            self._fail(str(exc))
        except asyncio.CancelledError:
            self._fail("stopped")
            raise
        except BaseException as exc:
            self._fail(one_line(exc))
        finally:
            self._client = None
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

    def _target(self) -> Any:
        config = self.config
        if config.command:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            program, *args = config.expanded_command()
            parameters = StdioServerParameters(
                command=program, args=args, env=config.expanded_env(), cwd=config.cwd
            )
            self._stderr = _StderrTail()
            return stdio_client(parameters, errlog=self._stderr.writer)
        return _http_transport(config.expanded_url(), config.expanded_headers())


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


async def _list_tools(client: Any) -> list[ListedTool]:
    listed: list[ListedTool] = []
    cursor = None
    for _ in range(_LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            hints = tool.annotations
            listed.append(
                ListedTool(
                    name=tool.name,
                    description=(tool.description or tool.title or "").strip(),
                    input_schema=dict(tool.input_schema or {"type": "object"}),
                    read_only=hints.read_only_hint if hints else None,
                    destructive=hints.destructive_hint if hints else None,
                )
            )
        cursor = page.next_cursor
        if not cursor:
            break
    return listed


def render_result(result: Any) -> str:
    """A CallToolResult as text for the model: text blocks, then structured content when
    no text carries it, and a one-line stand-in for images, audio and resources."""
    import json

    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            size = len(getattr(block, "data", "") or "") * 3 // 4
            parts.append(f"[{kind} {getattr(block, 'mime_type', '')}, about {size} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if text is not None else f"[resource {resource.uri}]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    if result.structured_content is not None and not any(p.strip() for p in parts):
        parts.append(json.dumps(result.structured_content, indent=1, default=str))
    return "\n".join(parts)
