"""MCP tools through `opscopilot run` against a loopback model, over real server processes:
our SDK test server (tests/mcp/servers/ops_server.py) and mcp-server-time from PyPI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from opscopilot.store import Store
from tests.runtime.support import CHAT_PATH, cli_env, opscopilot, text_reply, tool_call_reply
from tests.support.wire_server import RecordedRequest, Reply

from .support import ops_server, script_model, tool_messages, write_mcp_config

TIME_SERVER = {"command": [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]}


def test_read_only_tools_run_without_a_person_and_their_results_reach_the_model(
    wire_server, isolated_home: Path
) -> None:
    write_mcp_config(isolated_home, {"ops": ops_server(), "time": TIME_SERVER})
    script_model(
        wire_server,
        [
            [
                ("ops__disk_usage", {"mount": "/var"}),
                ("ops__scan_logs", {"steps": 3}),
                ("ops__service_status", {"name": "nginx"}),
                ("time__get_current_time", {"timezone": "Europe/Paris"}),
            ]
        ],
    )
    done = opscopilot("run", "is the disk full?", "--json", env=cli_env(isolated_home, wire_server))
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["status"] == "completed"
    assert [c["status"] for c in outcome["tool_calls"]] == ["ok"] * 4
    results = [m["content"] for m in tool_messages(wire_server)]
    assert "/var: 91% used" in results[0]
    assert "scanned 3 parts" in results[1]
    assert '"restarts": 3' in results[2]  # structured content
    assert "Europe/Paris" in results[3]  # a server someone else wrote
    # The model was offered every tool of both servers, with the servers' schemas.
    offered = {
        t["function"]["name"]: t["function"]
        for t in wire_server.requests_to("/v1/chat/completions")[0].json()["tools"]
    }
    assert {"ops__delete_volume", "time__convert_time", "run_command"} <= set(offered)
    assert "timezone" in offered["time__get_current_time"]["parameters"]["properties"]
    # Progress notifications became live tool output, kept in the event log.
    with Store.open(isolated_home / "opscopilot.db") as store:
        events = [e for _, e in store.events(session_id=outcome["session_id"])]
    output = "".join(e.text for e in events if e.type == "tool.output")
    assert all(f"progress {i}/3: scanned part {i}" in output for i in (1, 2, 3))


def test_destructive_call_pauses_another_process_decides_and_a_denial_reaches_the_model(
    wire_server, isolated_home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "ops.log"
    write_mcp_config(isolated_home, {"ops": ops_server(env={"OPS_SERVER_LOG": str(log)})})
    script_model(
        wire_server,
        [[("ops__delete_volume", {"name": "scratch"}), ("ops__restart_service", {"name": "db"})]],
    )
    env = cli_env(isolated_home, wire_server)
    paused = opscopilot("run", "clean up", "--json", env=env)
    assert paused.returncode == 3, paused.stderr
    outcome = json.loads(paused.stdout)
    delete_id, restart_id = outcome["pending_approvals"]
    assert not log.exists()  # nothing that changes anything ran without a person

    listed = json.loads(opscopilot("approvals", "list", "--json", env=env).stdout)
    risks = {a["tool"]: a["risk"] for a in listed}
    assert risks == {"ops__delete_volume": "destructive", "ops__restart_service": "write"}

    # Edited arguments are checked against the server's schema before they are recorded.
    edited = opscopilot("approvals", "approve", delete_id, "--args", '{"name": 5}', env=env)
    assert edited.returncode == 2 and "is not of type 'string'" in edited.stderr, edited.stderr
    edited = opscopilot("approvals", "approve", delete_id, "--args", '{"name": "tmp"}', env=env)
    assert edited.returncode == 0, edited.stderr
    denied = opscopilot("approvals", "deny", restart_id, "--reason", "db is busy", env=env)
    assert denied.returncode == 0, denied.stderr
    resumed = opscopilot("resume", outcome["turn_id"], "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout)
    assert [c["status"] for c in final["tool_calls"]] == ["ok", "denied"]
    assert log.read_text() == "delete tmp\n"  # exactly the approved call, once
    results = [m["content"] for m in tool_messages(wire_server)]
    assert "deleted volume tmp" in results[0]
    assert "db is busy" in results[1]


def test_a_crash_is_one_line_the_server_restarts_once_and_the_turn_goes_on(
    wire_server, isolated_home: Path
) -> None:
    write_mcp_config(
        isolated_home,
        {
            "ops": ops_server(),
            "cluster": ops_server("--fail-at-start"),
            "slow": ops_server(timeout_s=1, enabled_tools=["hang"]),
            "mute": {  # starts, never answers
                "command": [sys.executable, "-c", "import sys; sys.stdin.read()"],
                "startup_timeout_s": 1,
            },
        },
    )
    script_model(
        wire_server,
        [
            [("ops__crash", {})],
            [("ops__disk_usage", {}), ("ops__failing_check", {}), ("slow__hang", {})],
        ],
    )
    done = opscopilot("run", "check everything", "--json", env=cli_env(isolated_home, wire_server))
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["status"] == "completed"
    assert [c["status"] for c in final["tool_calls"]] == ["error", "ok", "error", "timeout"]
    notices = [line for line in done.stderr.splitlines() if "MCP server" in line]
    assert len([n for n in notices if "cluster" in n]) == 1, notices
    assert "cannot reach the cluster API" in notices[0] or "cannot reach" in done.stderr
    assert [n for n in notices if "mute" in n] == [
        "warning: MCP server mute is unavailable: did not answer within 1s"
    ]
    crash = [n for n in notices if "ops" in n]
    assert len(crash) == 1 and "crashed on purpose" in crash[0], notices
    results = [m["content"] for m in tool_messages(wire_server)]
    assert "unavailable" in results[0] and "not retried" in results[0]
    assert "91% used" in results[1]  # restarted for this turn
    assert "backend unreachable" in results[2]
    assert "no answer within 1s" in results[3]
    # The model was told which server it cannot use.
    system = wire_server.requests_to("/v1/chat/completions")[0].json()["messages"][0]["content"]
    assert "cluster" in system and "unavailable" in system
    offered = {
        t["function"]["name"]
        for t in wire_server.requests_to("/v1/chat/completions")[0].json()["tools"]
    }
    assert "slow__hang" in offered and "slow__disk_usage" not in offered  # enabled_tools


def test_with_a_kept_listing_the_first_model_request_leaves_before_any_server_starts(
    wire_server, isolated_home: Path
) -> None:
    starts = isolated_home / "starts.log"
    table = {"env": {"OPS_SERVER_STARTS": str(starts)}, "enabled_tools": ["disk_usage"]}
    write_mcp_config(isolated_home, {"a": ops_server(**table), "b": ops_server(**table)})
    started_at_first_request: list[int] = []

    def answer(request: RecordedRequest) -> Reply:
        if not any(m["role"] == "tool" for m in request.json()["messages"]):
            started_at_first_request.append(len(starts.read_text().splitlines()))
            return tool_call_reply(("call_1", "b__disk_usage", {"mount": "/srv"}))
        return text_reply("The disk is 91% used.")

    wire_server.handle(CHAT_PATH, answer)
    env = cli_env(isolated_home, wire_server)
    first = opscopilot("run", "is the disk full?", "--json", env=env)  # no listing kept yet
    assert first.returncode == 0, first.stderr
    later = opscopilot("run", "and now?", "--json", env=env)
    assert later.returncode == 0, later.stderr
    # The first run waited for both servers' listings; the later one offered the kept
    # listing and started the servers only once the model was answering.
    assert started_at_first_request == [2, 2]
    assert len(starts.read_text().splitlines()) == 4
    assert [c["status"] for c in json.loads(later.stdout)["tool_calls"]] == ["ok"]
    assert "/srv: 91% used" in tool_messages(wire_server)[0]["content"]
