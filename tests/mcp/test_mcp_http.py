"""A streamable HTTP server on loopback: headers with ${VAR}, untrusted by default, redaction."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runtime.support import cli_env, opscopilot

from .conftest import HTTP_TOKEN
from .support import script_model, tool_messages, write_mcp_config


def _config(home: Path, url: str, **table: object) -> None:
    write_mcp_config(
        home, {"remote": {"url": url, "headers": {"Authorization": "Bearer ${OPS_TOKEN}"}, **table}}
    )


def test_a_url_server_is_untrusted_so_even_its_read_only_tools_ask(
    wire_server, isolated_home: Path, http_ops_server: str
) -> None:
    _config(isolated_home, http_ops_server)
    script_model(wire_server, [[("remote__disk_usage", {"mount": "/"})]])
    env = {**cli_env(isolated_home, wire_server), "OPS_TOKEN": HTTP_TOKEN}
    paused = opscopilot("run", "disk?", "--json", env=env)
    assert paused.returncode == 3, paused.stderr
    (approval_id,) = json.loads(paused.stdout)["pending_approvals"]
    shown = json.loads(opscopilot("approvals", "show", approval_id, "--json", env=env).stdout)
    assert shown["risk"] == "read" and "not a trusted server" in shown["reason"]

    unattended = opscopilot("run", "disk?", "--approve", "read-only", "--json", env=env)
    assert unattended.returncode == 0, unattended.stderr
    assert json.loads(unattended.stdout)["tool_calls"][0]["status"] == "denied"


def test_a_trusted_url_server_runs_read_only_tools_and_its_token_never_shows(
    wire_server, isolated_home: Path, http_ops_server: str
) -> None:
    _config(isolated_home, http_ops_server, trusted=True)
    script_model(wire_server, [[("remote__show_token", {}), ("remote__scan_logs", {"steps": 2})]])
    env = {**cli_env(isolated_home, wire_server), "OPS_TOKEN": HTTP_TOKEN}
    done = opscopilot("run", "token?", env=env)
    assert done.returncode == 0, done.stderr
    results = [m["content"] for m in tool_messages(wire_server)]
    assert results[0].startswith("token is ") and HTTP_TOKEN not in results[0]
    assert "scanned 2 parts" in results[1]
    assert "progress 2/2" in done.stderr  # live tool output
    assert HTTP_TOKEN not in done.stdout + done.stderr
    for path in isolated_home.rglob("*"):
        if path.is_file():
            assert HTTP_TOKEN.encode() not in path.read_bytes(), path


def test_a_wrong_token_makes_the_server_unavailable_in_one_line(
    wire_server, isolated_home: Path, http_ops_server: str
) -> None:
    _config(isolated_home, http_ops_server, trusted=True)
    script_model(wire_server, [])
    env = {**cli_env(isolated_home, wire_server), "OPS_TOKEN": "wrong-token-000000"}
    done = opscopilot("run", "hello", env=env)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "MCP server remote" in line]
    assert len(lines) == 1 and "unavailable" in lines[0], done.stderr
