"""`opscopilot mcp list [--json]` over real servers: one up over stdio, one over HTTP, one broken."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runtime.support import cli_env, opscopilot

from .conftest import HTTP_TOKEN
from .support import ops_server, write_mcp_config


def test_mcp_list_shows_each_server_its_state_and_its_tools_with_their_risk(
    isolated_home: Path, http_ops_server: str
) -> None:
    write_mcp_config(
        isolated_home,
        {
            "ops": ops_server(disabled_tools=["crash"], risk={"hang": "write"}),
            "remote": {"url": http_ops_server, "headers": {"Authorization": "Bearer ${OPS_TOKEN}"}},
            "cluster": ops_server("--fail-at-start"),
        },
    )
    env = {**cli_env(isolated_home, None), "OPS_TOKEN": HTTP_TOKEN}
    listed = opscopilot("mcp", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert [rows[n]["state"] for n in ("ops", "remote", "cluster")] == ["ready", "ready", "failed"]
    assert rows["cluster"]["problem"] == "exited: error: cannot reach the cluster API"
    tools = {t["name"]: t for t in rows["ops"]["tools"]}
    assert tools["ops__disk_usage"]["risk"] == "read" and tools["ops__disk_usage"]["unattended"]
    assert tools["ops__delete_volume"]["risk"] == "destructive"
    assert tools["ops__restart_service"]["risk"] == "write"
    assert tools["ops__hang"]["risk"] == "write"  # the operator's override
    assert tools["ops__crash"]["enabled"] is False
    remote = {t["name"]: t for t in rows["remote"]["tools"]}
    assert remote["remote__disk_usage"]["risk"] == "read"
    assert not remote["remote__disk_usage"]["unattended"]  # a URL server is not trusted

    text = opscopilot("mcp", "list", env=env)
    assert text.returncode == 0, text.stderr
    assert "remote  ready  http" in text.stdout and "untrusted: every call asks" in text.stdout
    assert "ops__delete_volume" in text.stdout and HTTP_TOKEN not in text.stdout


def test_mcp_list_without_servers_says_how_to_add_one(isolated_home: Path) -> None:
    env = cli_env(isolated_home, None)
    assert json.loads(opscopilot("mcp", "list", "--json", env=env).stdout) == []
    assert "[mcp_servers.NAME]" in opscopilot("mcp", "list", env=env).stdout


def test_doctor_checks_each_configured_server_and_a_down_one_is_a_warning(
    isolated_home: Path, http_ops_server: str
) -> None:
    env = {**cli_env(isolated_home, None), "OPS_TOKEN": HTTP_TOKEN}
    assert json.loads(opscopilot("doctor", "--json", env=env).stdout)["checks"][-1]["summary"] == (
        "no MCP servers configured"
    )
    write_mcp_config(
        isolated_home,
        {
            "remote": {"url": http_ops_server, "headers": {"Authorization": "Bearer ${OPS_TOKEN}"}},
            "cluster": ops_server("--fail-at-start"),
        },
    )
    done = opscopilot("doctor", "--json", env=env)
    assert done.returncode == 0, done.stderr  # a server that is down is not essential
    (check,) = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "mcp"]
    assert check["status"] == "warn"
    assert check["summary"] == (
        "1 of 2 MCP servers answer; cluster: exited: error: cannot reach the cluster API"
    )
    assert [s["state"] for s in check["detail"]["servers"]] == ["ready", "failed"]
    text = opscopilot("doctor", env=env)
    assert "warn  mcp" in text.stdout and HTTP_TOKEN not in text.stdout
