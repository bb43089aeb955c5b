"""An MCP server written with the official SDK, for the tests: read-only, write and
destructive tools, a tool that reports progress, a slow one, one that fails, one that
crashes the server. `--http` serves streamable HTTP on a loopback port it prints first,
requiring `Authorization: Bearer $OPS_SERVER_TOKEN` when that variable is set.

Every call that changes something appends a line to $OPS_SERVER_LOG, so a test can tell
exactly what ran; with $OPS_SERVER_STARTS, each start appends a line there.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("OPS_SERVER_STARTS"):  # a line per start, before the SDK loads
    with open(os.environ["OPS_SERVER_STARTS"], "a") as starts:
        starts.write(f"{os.getpid()}\n")

if "--fail-at-start" in sys.argv:  # before the SDK loads: a cheap broken server
    sys.stderr.write("error: cannot reach the cluster API\n")
    sys.exit(1)

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("ops-test")
READ = ToolAnnotations(read_only_hint=True)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True)


def _log(line: str) -> None:
    path = os.environ.get("OPS_SERVER_LOG")
    if path:
        with open(path, "a") as handle:
            handle.write(line + "\n")


@server.tool(annotations=READ)
def disk_usage(mount: str = "/") -> str:
    """How full a mount is (a fixed answer: this is a test server)."""
    return f"{mount}: 91% used, 4.2G free (test figures)"


@server.tool(annotations=READ)
def service_status(name: str) -> dict[str, object]:
    """The state of a service, as structured content."""
    return {"service": name, "active": False, "restarts": 3}


@server.tool()
def restart_service(name: str) -> str:
    """Restart a service (not annotated: counts as a write)."""
    _log(f"restart {name}")
    return f"restarted {name}"


@server.tool(annotations=DESTRUCTIVE)
def delete_volume(name: str) -> str:
    """Delete a storage volume and everything on it."""
    _log(f"delete {name}")
    return f"deleted volume {name}"


@server.tool(annotations=READ)
async def scan_logs(steps: int, ctx: Context) -> str:
    """Scan logs in steps, reporting progress after each."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"scanned part {step}")
    return f"scanned {steps} parts: 2 errors found"


@server.tool(annotations=READ)
async def hang() -> str:
    """Never answers (for timeouts)."""
    await anyio.sleep_forever()
    return "unreachable"


@server.tool(annotations=READ)
def failing_check() -> str:
    """Always fails, as a tool error."""
    raise ToolError("backend unreachable: connection refused")


@server.tool(annotations=READ)
def show_token() -> str:
    """Echo the server's token (to prove redaction)."""
    return "token is " + os.environ.get("OPS_SERVER_TOKEN", "unset")


@server.tool(annotations=READ)
def crash() -> str:
    """Kill the server process mid-call."""
    sys.stderr.write("fatal: the test server crashed on purpose\n")
    sys.stderr.flush()
    os._exit(3)


def _serve_http() -> None:
    import socket

    import uvicorn

    app = server.streamable_http_app()
    token = os.environ.get("OPS_SERVER_TOKEN")

    async def guarded(scope, receive, send):  # type: ignore[no-untyped-def]
        if token and scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization", b"").decode() != f"Bearer {token}":
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(guarded, log_level="warning", lifespan="on")
    anyio.run(uvicorn.Server(config).serve, [sock])


if __name__ == "__main__":
    if "--http" in sys.argv:
        _serve_http()
    else:
        server.run()
