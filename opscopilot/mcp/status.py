"""What `opscopilot mcp list`, `doctor` and the TUI show: each configured server started
(in parallel, within its timeout), its state, and its tools with their risk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opscopilot.mcp.servers import McpServers


async def check_servers(config_dict: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Start every configured server once and report it; [] when none is configured."""
    from opscopilot import config

    servers = McpServers.from_config(config_dict, config.data_dir())
    if servers is None:
        return []
    try:
        await servers.prepare("status")
        return servers.status()
    finally:
        await servers.aclose()


def server_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Readable lines, 80 columns where the names allow: a server, then its tools."""
    lines = []
    for row in rows:
        trust = "trusted" if row["trusted"] else "untrusted: every call asks"
        head = f"{row['name']}  {row['state']}  {row['transport']}  {row['where']}  ({trust})"
        lines.append(head)
        if row["problem"]:
            lines.append(f"  {row['problem']}")
        width = max((len(tool["name"]) for tool in row["tools"]), default=0)
        for tool in row["tools"]:
            if not tool["enabled"]:
                how = "not offered (enabled_tools/disabled_tools)"
            elif tool["unattended"]:
                how = "runs without a person"
            else:
                how = "asks"
            lines.append(f"  {tool['name']:<{width}}  {tool['risk']:<11}  {how}")
    return lines


def server_summaries(rows: list[dict[str, Any]]) -> list[str]:
    """One short line per server (the TUI's status notification)."""
    lines = []
    for row in rows:
        if row["state"] != "ready":
            lines.append(f"{row['name']}: {row['state']} — {row['problem'] or 'not running'}")
            continue
        offered = [tool for tool in row["tools"] if tool["enabled"]]
        unattended = sum(1 for tool in offered if tool["unattended"])
        trust = "" if row["trusted"] else ", untrusted"
        lines.append(
            f"{row['name']}: ready{trust} · {len(offered)} tools "
            f"({unattended} run without a person)"
        )
    return lines
