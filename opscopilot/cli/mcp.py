"""`opscopilot mcp list [--json]`: each configured MCP server, its state, its tools and risk."""

from __future__ import annotations

import json
from typing import Any

import click


@click.group("mcp")
def mcp() -> None:
    """MCP tool servers ([mcp_servers.NAME] in config.toml)."""


@mcp.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
def list_servers(as_json: bool) -> None:
    """Start each configured server, list its tools with their risk, and stop it again.

    A server that does not start is listed with its state (failed) and why.
    """
    import anyio

    from opscopilot import config, redact
    from opscopilot.mcp.status import check_servers, server_lines

    redact.register_environment_secrets()
    rows = anyio.run(check_servers, config.config())
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"no MCP servers configured (add [mcp_servers.NAME] to {config.config_path()})")
        return
    for line in server_lines(rows):
        click.echo(redact.redact(line))


def doctor_check() -> Any:
    """`opscopilot doctor`'s MCP line: each configured server started and listed (not
    essential: a server that is down makes its tools unavailable, nothing else)."""
    import anyio

    from opscopilot import config
    from opscopilot.cli.doctor import CheckResult
    from opscopilot.mcp.status import check_servers

    rows = anyio.run(check_servers, config.config())
    if not rows:
        return CheckResult("mcp", "ok", "no MCP servers configured", essential=False)
    down = [row for row in rows if row["state"] != "ready"]
    summary = f"{len(rows) - len(down)} of {len(rows)} MCP servers answer"
    if down:
        summary += "; " + "; ".join(f"{row['name']}: {row['problem']}" for row in down)
    return CheckResult(
        "mcp", "warn" if down else "ok", summary, essential=False, detail={"servers": rows}
    )
