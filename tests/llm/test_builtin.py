"""`builtin:ops`: determinism, the planning table, summaries of real tool output, usage.

Tool output comes from this machine: files under data/builtin/ were captured from
`df -h`, `free -m`, `uptime`, `ps` and `ss -ltn` here, and the end-to-end tests run the
real tools (opscopilot.tools) on the calls the model asks for.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opscopilot.llm.providers import open_provider
from opscopilot.llm.providers.base import ProviderSettings
from opscopilot.llm.providers.builtin import BuiltinProvider, prompt_text
from opscopilot.llm.providers.builtin_planner import plan
from opscopilot.llm.types import (
    LLMError,
    Message,
    Request,
    ResponseBuilder,
    TextDelta,
    ToolCallDelta,
    ToolCallPart,
    ToolSpec,
    UsageUpdate,
)
from opscopilot.tools import ToolRegistry, classify
from tests.support.wire_server import json_reply

DATA = Path(__file__).parent / "data" / "builtin"
TOOLS = [
    ToolSpec(name=name, description=name)
    for name in ("run_command", "read_file", "tail_log", "http_check", "system_info")
]


def captured(name: str) -> str:
    return (DATA / name).read_text()


def stream(request: Request, provider: BuiltinProvider | None = None) -> list:
    provider = provider or BuiltinProvider()

    async def run() -> list:
        return [event async for event in provider.stream(request)]

    return anyio.run(run)


def respond(request: Request):
    builder = ResponseBuilder(provider="builtin", model="ops")
    for event in stream(request):
        builder.add(event)
    return builder.build()


def ask(text: str, *, tools: list[ToolSpec] = TOOLS, **kwargs) -> Request:
    return Request(model="ops", messages=[Message.user(text)], tools=tools, **kwargs)


def after_tools(command_outputs: list[tuple[str, dict, str, bool]]) -> Request:
    """A conversation whose last messages are results of the calls the model asked for."""
    calls = [
        ToolCallPart(id=f"call_{i}", name=name, arguments=args)
        for i, (name, args, _, _) in enumerate(command_outputs)
    ]
    messages = [Message.user("check the box"), Message(role="assistant", parts=calls)]
    messages += [
        Message.tool_result(f"call_{i}", content, is_error=error)
        for i, (_, _, content, error) in enumerate(command_outputs)
    ]
    return Request(model="ops", messages=messages, tools=TOOLS)


def run_cmd(command: str, content: str, error: bool = False) -> tuple[str, dict, str, bool]:
    return ("run_command", {"command": command}, content, error)


# --------------------------------------------------------------------------- determinism

prompt_words = st.sampled_from(
    [
        "disk",
        "full",
        "memory",
        "oom",
        "slow",
        "cpu",
        "processes",
        "ports",
        "listening",
        "logs",
        "errors",
        "nginx",
        "postgres",
        "restart",
        "kill",
        "pid",
        "123",
        "clear",
        "cache",
        "delete",
        "old",
        "health",
        "5xx",
        "https://ops.example/health",
        "hello",
        "it",
        "the",
        "/var/log/syslog",
        "inodes",
        "reboot",
        "status",
        "is",
        "running",
        "déjà",
        "日本",
    ]
)


@given(
    words=st.lists(prompt_words | st.text(max_size=8), max_size=12),
    thinking=st.booleans(),
    with_tools=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_same_messages_give_the_same_stream_byte_for_byte(words, thinking, with_tools):
    request = ask(
        " ".join(words),
        tools=TOOLS if with_tools else [],
        thinking_budget=256 if thinking else None,
    )
    first, second = stream(request), stream(request, BuiltinProvider())
    assert [repr(e) for e in first] == [repr(e) for e in second]
    assert first[-1].type == "finish"


def test_summaries_are_deterministic_too():
    request = after_tools(
        [run_cmd("df -h", captured("df_h.txt")), run_cmd("free -m", captured("free_m.txt"))]
    )
    assert [repr(e) for e in stream(request)] == [repr(e) for e in stream(request)]


# --------------------------------------------------------------------------- planning table

PLANS = [
    ("how full are the disks?", ["df -h"]),
    ("we are out of memory, is it swapping?", ["free -m"]),
    ("why is the box so slow?", ["uptime", "system_info"]),
    ("what processes are running?", ["ps -eo pid,user,pcpu,pmem,comm --sort=-pcpu"]),
    ("which ports are listening?", ["ss -ltn"]),
    ("show me errors in the nginx logs", ["tail_log nginx"]),
    ("tail /var/log/syslog", ["tail_log /var/log/syslog"]),
    ("any errors in /var/log/app/worker.log?", ["tail_log /var/log/app/worker.log"]),
    ("errors lately?", ["journalctl -p err -n 50 --no-pager"]),
    ("is https://ops.example/health up?", ["http_check https://ops.example/health"]),
    (
        "why is the gateway returning 5xx?",
        ["http_check http://127.0.0.1/", "tail_log /var/log/nginx/error.log"],
    ),
    ("is nginx running?", ["systemctl status nginx --no-pager"]),
    ("disk full and memory low, what's listening?", ["df -h", "free -m", "ss -ltn"]),
    ("hello there", []),
]

PROPOSALS = [
    ("restart nginx", "systemctl restart nginx"),
    ("please reload the haproxy service", "systemctl reload haproxy"),
    ("clear the cache", "sysctl -w vm.drop_caches=3"),
    ("clear the nginx cache", "find /var/cache/nginx -mindepth 1 -delete"),
    ("kill pid 123", "kill 123"),
    ("force kill 4242", "kill -9 4242"),
    ("delete old logs", "find /var/log -type f -name '*.gz' -mtime +7 -delete"),
    ("reboot the server", "systemctl reboot"),
]


@pytest.mark.parametrize(("prompt", "expected"), PLANS)
def test_requests_map_to_read_only_diagnostics(prompt, expected):
    calls = plan(prompt)
    assert [c.display for c in calls] == expected
    for call in calls:  # the real classifier agrees: these run without asking
        assert not call.mutating
        assert classify(call.tool, call.arguments).risk == "read"


@pytest.mark.parametrize(("prompt", "command"), PROPOSALS)
def test_mutating_requests_propose_the_command_which_needs_approval(prompt, command):
    (call,) = plan(prompt)
    assert call.mutating and call.arguments == {"command": command}
    verdict = classify(call.tool, call.arguments)
    assert verdict.risk in ("write", "destructive") and not verdict.needs_shell


def test_a_pronoun_takes_the_service_from_earlier_turns_and_start_of_is_not_a_service():
    assert [c.display for c in plan("restart it", context="nginx keeps failing")] == [
        "systemctl restart nginx"
    ]
    assert [c.display for c in plan("logs since the start of the day for postgres")] == [
        "tail_log postgres"
    ]


# --------------------------------------------------------------------------- streaming contract


def test_plan_streams_short_text_first_then_parallel_tool_calls_with_usage():
    history = [
        Message.user("disk?"),
        Message(
            role="assistant",
            parts=[ToolCallPart(id="call_0", name="run_command", arguments={"command": "df -h"})],
        ),
        Message.tool_result("call_0", captured("df_h.txt")),
        Message.assistant("Disks are fine."),
        Message.user("now memory and restart nginx"),
    ]
    request = Request(model="ops", messages=history, tools=TOOLS)
    events = stream(request)
    kinds = [e.type for e in events]
    assert kinds[0] == "usage" and kinds[-2:] == ["usage", "finish"]
    assert kinds.index("text") < kinds.index("tool_call_start")
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 5 and max(len(t) for t in texts) < 40  # word-ish pieces
    response = respond(request)
    assert response.finish_reason == "tool_calls"
    assert [(c.id, c.arguments["command"]) for c in response.tool_calls] == [
        ("call_1", "free -m"),
        ("call_2", "systemctl restart nginx"),
    ]
    assert "waits for your approval" in response.text
    deltas = "".join(e.arguments_delta for e in events if isinstance(e, ToolCallDelta))
    assert deltas == '{"command": "free -m"}{"command": "systemctl restart nginx"}'
    usage = [e for e in events if isinstance(e, UsageUpdate)][-1].usage
    assert usage.input_tokens == math.ceil(len(prompt_text(request)) / 4)
    produced = len(response.text) + sum(
        len(c.name) + len(json.dumps(c.arguments)) for c in response.tool_calls
    )
    assert usage.output_tokens == math.ceil(produced / 4)


def test_a_greeting_gets_help_and_no_tools():
    response = respond(ask("hi!"))
    assert response.tool_calls == [] and response.finish_reason == "stop"
    assert "df -h" in response.text and "approval" in response.text
    assert response.usage.output_tokens == math.ceil(len(response.text) / 4)


def test_without_tools_it_says_what_it_would_run():
    response = respond(ask("how full are the disks?", tools=[]))
    assert response.tool_calls == []
    assert "Tools aren't enabled" in response.text and "`df -h`" in response.text


def test_thinking_is_streamed_when_asked_and_counted_as_reasoning():
    response = respond(ask("why is the box slow?", thinking_budget=512))
    assert "uptime" in response.thinking
    assert response.usage.reasoning_tokens == math.ceil(len(response.thinking) / 4)


def test_max_tokens_cuts_the_text_with_length():
    response = respond(ask("hello", max_tokens=10))
    assert response.finish_reason == "length"
    assert 0 < len(response.text) <= 40 and response.usage.output_tokens <= 10


def test_delay_ms_paces_the_pieces():
    provider = BuiltinProvider(
        ProviderSettings(
            name="builtin", adapter="builtin", base_url="builtin://ops", extra={"delay_ms": 3}
        )
    )
    started = time.monotonic()
    events = stream(ask("hello"), provider)
    pieces = sum(1 for e in events if isinstance(e, TextDelta))
    assert time.monotonic() - started >= pieces * 0.003 * 0.9


def test_the_registry_opens_it_without_a_key_and_only_ops_exists(isolated_home):
    (isolated_home / "config.toml").write_text("[providers.builtin]\ndelay_ms = 0\n")
    provider = open_provider("builtin", None)
    assert respond(ask("hi")).text
    with pytest.raises(LLMError) as caught:
        stream(Request(model="gpt-5", messages=[Message.user("hi")]), provider)
    assert caught.value.kind == "not_found"


# --------------------------------------------------------------------------- summaries


def test_disk_summary_from_real_df_output_names_the_fullest_filesystem():
    text = respond(after_tools([run_cmd("df -h", captured("df_h.txt"))])).text
    assert "nothing at or above 80%; the fullest is `/` at 22% (80G free of 252G)" in text
    assert "tmpfs" not in text


def test_disk_summary_names_every_filesystem_above_80_percent():
    output = captured("df_h.txt").replace(
        "/dev/vda                 252G   22G   80G  22% /",
        "/dev/vda                 252G  232G   20G  93% /\n"
        "/dev/vdb                 100G   81G   19G  81% /var/lib/postgresql",
    )
    response = respond(after_tools([run_cmd("df -h", output)]))
    assert (
        "2 of 3 filesystems at or above 80%: `/` 93% (20G free of 252G), "
        "`/var/lib/postgresql` 81% (19G free of 100G)"
    ) in response.text
    assert "**Next steps**" in response.text and response.finish_reason == "stop"


def test_memory_load_processes_and_ports_from_real_output():
    text = respond(
        after_tools(
            [
                run_cmd("free -m", captured("free_m.txt")),
                run_cmd("uptime", captured("uptime.txt")),
                run_cmd("nproc", "2\n"),
                run_cmd("ps -eo pid,user,pcpu,pmem,comm --sort=-pcpu", captured("ps.txt")),
                run_cmd("ss -ltn", captured("ss_ltn.txt")),
            ]
        )
    ).text
    assert "23159 MiB available of 24105 MiB (96%) — fine; no swap configured" in text
    assert "3.12 / 1.32 / 0.54 (1/5/15 min, rising) on 2 cores — 1.56 per core, overloaded" in text
    assert "`python` (pid 23440, 52.2% CPU, 0.4% MEM)" in text
    assert "**Listening ports** (`ss -ltn`): 2024 (0.0.0.0)" in text


def test_log_summary_counts_errors_and_names_the_most_frequent():
    log = "\n".join(
        [
            "2025/01/02 10:00:01 [error] 812#812: *1 upstream timed out (110) while reading",
            "2025/01/02 10:00:02 [notice] 812#812: signal process started",
            "2025/01/02 10:00:03 [error] 812#812: *7 upstream timed out (110) while reading",
            "2025/01/02 10:00:04 [crit] 812#812: *9 connect() to unix:/run/php.sock failed",
        ]
    )
    text = respond(after_tools([("tail_log", {"unit": "nginx"}, log, False)])).text
    assert "3 of 4 lines look like errors" in text
    assert "most frequent (2×)" in text and "upstream timed out" in text
    assert "latest: `2025/01/02 10:00:04 [crit]" in text


def test_denials_are_acknowledged_with_the_reason_and_a_5xx_body_is_not_a_denial():
    text = respond(
        after_tools(
            [
                run_cmd(
                    "systemctl restart nginx",
                    "The operator denied this call: not during business hours.",
                    True,
                ),
                (
                    "http_check",
                    {"url": "http://127.0.0.1/"},
                    "GET http://127.0.0.1/ -> 502 Bad Gateway in 31 ms\n\nAccess denied upstream",
                    True,
                ),
            ]
        )
    ).text
    assert (
        "You denied `systemctl restart nginx`: not during business hours — I did not run it."
    ) in text
    assert "**http://127.0.0.1/**: HTTP 502 in 31 ms — the server is failing (5xx)." in text


def test_when_every_call_was_denied_it_does_not_claim_checks_ran():
    text = respond(
        after_tools([run_cmd("systemctl restart nginx", "The operator denied this call.", True)])
    ).text
    assert text == "- You denied `systemctl restart nginx`: no reason given — I did not run it.\n"


def test_a_failed_command_says_what_failed():
    text = respond(
        after_tools(
            [
                run_cmd(
                    "systemctl status nginx --no-pager",
                    "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
                    "Failed to connect to bus: Host is down\n[exit code 1]",
                    True,
                ),
                run_cmd("df -h", "df: /mnt/x: Permission denied\n[exit code 1]", True),
            ]
        )
    ).text
    assert "systemd is not running on this host" in text
    assert "`df -h` failed: df: /mnt/x: Permission denied" in text


# --------------------------------------------------------------------------- end to end


def run_tools(calls) -> list[tuple[str, dict, str, bool]]:
    """Run the calls with the real tools, as the runtime would after the policy allows them."""
    registry = ToolRegistry.default()

    async def run_all():
        results = []
        for call in calls:
            tool = registry.get(call.name)
            result = await tool.run(tool.validate(call.arguments))
            results.append((call.name, call.arguments, result.content, result.status != "ok"))
        return results

    return anyio.run(run_all)


def test_real_tools_on_this_machine_round_trip_through_the_model():
    proposal = respond(ask("how full are the disks, how much memory, and why so slow?"))
    assert [c.name for c in proposal.tool_calls] == [
        "run_command",
        "run_command",
        "run_command",
        "system_info",
    ]
    outcomes = run_tools(proposal.tool_calls)
    summary = respond(after_tools(outcomes)).text
    df_output = outcomes[0][2]
    root = next(line.split() for line in df_output.splitlines() if line.split()[-1:] == ["/"])
    assert f"`/` at {root[4]}" in summary or f"`/` {root[4]}" in summary
    assert "MiB available of" in summary
    assert f"on {os.cpu_count()} cores" in summary


def test_real_http_check_of_a_failing_gateway(wire_server):
    wire_server.expect("/", json_reply(502, {"error": "bad gateway"}))
    proposal = respond(ask(f"is {wire_server.url}/ healthy?"))
    (call,) = proposal.tool_calls
    assert call.name == "http_check" and call.arguments == {"url": f"{wire_server.url}/"}
    summary = respond(after_tools(run_tools([call]))).text
    assert f"**{wire_server.url}/**: HTTP 502 in" in summary and "failing (5xx)" in summary


def test_a_topic_a_dedicated_check_reports_is_not_said_twice_by_system_info():
    from opscopilot.llm.providers.builtin_summary import ToolOutcome, summarise

    uptime = ToolOutcome("run_command", {"command": "uptime"}, captured("uptime.txt"), False)
    info = ToolOutcome("system_info", {}, captured("system_info.txt"), False)
    alone = summarise([info])
    assert "**Load**" in alone and "**Memory**" in alone  # system_info alone reports load
    both = summarise([uptime, info])
    assert both.count("**Load**") == 1 and "**Load** (`uptime`)" in both
    assert "**Memory** (`system_info`)" in both  # what uptime doesn't cover is still said
