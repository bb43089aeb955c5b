"""MCP over stdio, spoken directly: newline-delimited JSON-RPC 2.0 with a server process.

Why not the SDK here: importing it costs about 0.9 s of CPU (two protocol revisions of
pydantic types, its server side, starlette), which a turn would pay before its first model
call on a 2-core host. A client needs a small part of the protocol, all of it here:
`initialize` (we offer the newest handshake revision and accept any the handshake era
knows) then `notifications/initialized`; `tools/list` page by page; `tools/call` with a
progress token, its `notifications/progress` passed on, and `notifications/cancelled` when
we give up on a call; a server's `ping` answered, its other requests (sampling, roots,
elicitation: capabilities we do not declare) refused with "method not found"; its other
notifications (log messages, list changes) ignored. A line that is not JSON-RPC is skipped,
as the SDK does; the end of the server's stdout fails every request still waiting.
Streamable HTTP servers keep the SDK (connection.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO, Any

from opscopilot import children

PROTOCOL_VERSION = "2025-11-25"
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
# What a server inherits besides its configured env (the SDK's list, for the same reason:
# nothing secret by accident).
INHERITED_ENV = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER")
LINE_LIMIT = 64 * 1024 * 1024  # one JSON-RPC message; a bigger one ends the session
METHOD_NOT_FOUND = -32601
CLOSE_GRACE_S = 2.0  # after stdin closes, before SIGTERM to the server's process group
KILL_GRACE_S = 2.0  # after SIGTERM, before SIGKILL

Progress = Callable[[float, float | None, str | None], Awaitable[None]]


class RpcError(Exception):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ConnectionClosed(Exception):
    """The server's stdout ended (it exited or closed it): no answer will come."""


class StdioSession:
    """One server process and the requests waiting for its answers."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._progress: dict[str, Progress] = {}
        self._next_id = 0
        self._closed: str | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.server_info: dict[str, Any] = {}

    # --- requests ---------------------------------------------------------------------

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        on_progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Send one request and wait for its result; RpcError for an error answer,
        ConnectionClosed when the server goes away first. Cancelled (a timeout), the
        server is told with notifications/cancelled."""
        if self._closed is not None:
            raise ConnectionClosed(self._closed)
        self._next_id += 1
        request_id = self._next_id
        params = dict(params or {})
        token = None
        if on_progress is not None:
            token = f"opscopilot-{request_id}"
            params["_meta"] = {**(params.get("_meta") or {}), "progressToken": token}
            self._progress[token] = on_progress
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            await self._send(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            )
            return await answer
        except asyncio.CancelledError:
            if self._closed is None:
                cancelled = {"requestId": request_id, "reason": "the client stopped waiting"}
                self._send_soon("notifications/cancelled", cancelled)
            raise
        finally:
            self._pending.pop(request_id, None)
            if answer.done() and not answer.cancelled():
                # A send that failed closed the session, which failed this answer too: mark
                # it retrieved, or asyncio reports "exception was never retrieved" later.
                answer.exception()
            if token is not None:
                self._progress.pop(token, None)

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    async def initialize(self, client_name: str, client_version: str) -> dict[str, Any]:
        result = await self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": client_name, "version": client_version},
            },
        )
        version = result.get("protocolVersion")
        if version not in HANDSHAKE_VERSIONS:
            raise RpcError(0, f"the server speaks MCP protocol {version!r}, which we do not")
        self.server_info = result.get("serverInfo") or {}
        await self.notify("notifications/initialized")
        return result

    # --- the wire ---------------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            stdin.write(data.encode("utf-8"))
            await stdin.drain()
        except (ConnectionError, RuntimeError, OSError) as exc:
            self._close(f"Connection closed ({type(exc).__name__})")
            raise ConnectionClosed(self._closed) from None

    def _send_soon(self, method: str, params: dict[str, Any]) -> None:
        """A notification or an answer sent from the reader (which must not wait)."""
        task = asyncio.get_running_loop().create_task(self._send_quietly(method, params))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_quietly(self, method: str, params: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            if method.startswith("notifications/"):
                await self.notify(method, params)
            else:  # an answer: `params` is the whole message
                await self._send(params)

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        reason = "Connection closed"
        try:
            while True:
                try:
                    line = await stdout.readline()
                except ValueError:  # a line over LINE_LIMIT
                    reason = "Connection closed: the server sent a message over 64 MiB"
                    break
                if not line:
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # not JSON-RPC (a stray print): skipped, as the SDK does
                if isinstance(message, dict):
                    self._dispatch(message)
        except (ConnectionError, OSError) as exc:
            reason = f"Connection closed ({type(exc).__name__})"
        finally:
            self._close(reason)

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if isinstance(method, str):
            if "id" in message:  # the server asks us something
                answer: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
                if method == "ping":
                    answer["result"] = {}
                else:
                    answer["error"] = {"code": METHOD_NOT_FOUND, "message": "Method not found"}
                self._send_soon("answer", answer)
            elif method == "notifications/progress":
                self._progressed(message.get("params") or {})
            return
        waiting = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if waiting is None or waiting.done():
            return  # an answer to a request we gave up on
        error = message.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            text = error.get("message")
            waiting.set_exception(
                RpcError(code if isinstance(code, int) else 0, str(text or "error"))
            )
        else:
            result = message.get("result")
            waiting.set_result(result if isinstance(result, dict) else {})

    def _progressed(self, params: dict[str, Any]) -> None:
        callback = self._progress.get(str(params.get("progressToken")))
        done = params.get("progress")
        if callback is None or not isinstance(done, int | float):
            return
        total = params.get("total")
        message = params.get("message")
        task = asyncio.get_running_loop().create_task(
            callback(
                float(done),
                float(total) if isinstance(total, int | float) else None,
                message if isinstance(message, str) else None,
            )
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _close(self, reason: str) -> None:
        if self._closed is not None:
            return
        self._closed = reason
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(ConnectionClosed(reason))
                # Its request still raises it; marked seen here so a request that stopped
                # listening (cancelled in the same loop turn) leaves no "exception was never
                # retrieved" report for whatever runs when it is collected.
                waiting.exception()

    # --- the end ----------------------------------------------------------------------

    async def aclose(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Close stdin, give the server `grace_s` to exit, then SIGTERM and SIGKILL its
        process group (the MCP lifecycle's shutdown for stdio)."""
        self._close("Connection closed")
        stdin = self.process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                stdin.close()
        if not await self._exited_within(grace_s):
            for sig, grace in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, sig)
                if await self._exited_within(grace):
                    break
        self._reader.cancel()
        for task in list(self._background):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def _exited_within(self, seconds: float) -> bool:
        # Not process.wait(): it also waits for the pipes' end, which a server's own child
        # may hold open.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.process.returncode is None:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True


def server_environment(configured: dict[str, str]) -> dict[str, str]:
    inherited = {
        key: value
        for key in INHERITED_ENV
        if (value := os.environ.get(key)) is not None and not value.startswith("()")
    }
    return {**inherited, **configured}


@contextlib.asynccontextmanager
async def stdio_session(
    argv: list[str], env: dict[str, str], cwd: str | None, errlog: IO[str], client_version: str
) -> AsyncIterator[StdioSession]:
    """A started, initialized server; stopped when the block ends (however it ends)."""
    children.install()
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=errlog,
        env=server_environment(env),
        cwd=cwd,
        start_new_session=True,  # its own process group, so stopping it reaches its children
        limit=LINE_LIMIT,
    )
    session = StdioSession(process)
    initialized = False
    try:
        await session.initialize("opscopilot", client_version)
        initialized = True
        yield session
    finally:
        # A server stopped before it answered `initialize` has nothing to finish: no grace.
        # Stopping must finish even when the host task is cancelled, or the server lingers.
        grace = CLOSE_GRACE_S if initialized else 0.0
        closing = asyncio.get_running_loop().create_task(session.aclose(grace))
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            with contextlib.suppress(asyncio.CancelledError):
                await closing
            raise
