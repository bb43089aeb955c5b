"""The Anthropic adapter over real loopback HTTP, with Messages streaming transcripts."""

from __future__ import annotations

from typing import Any

import pytest

from opscopilot.llm.providers.anthropic import AnthropicProvider
from opscopilot.llm.types import (
    Message,
    Request,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolSpec,
)
from tests.llm.streaming import ANTHROPIC_KEY, aggregate, anthropic_settings, collect
from tests.support.wire_server import Reply, json_reply, sse

PATH = "/v1/messages"


def message_start(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-5",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage or {"input_tokens": 25, "output_tokens": 1},
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": body}


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str, output_tokens: int, **usage: Any) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens, **usage},
    }


STOP = {"type": "message_stop"}
PING = {"type": "ping"}


def stream(*events: dict[str, Any]) -> bytes:
    return sse(*events, event_names=True)


def text_reply(*pieces: str) -> Reply:
    return Reply(
        body=stream(
            message_start(),
            block_start(0, {"type": "text", "text": ""}),
            PING,
            *[delta(0, {"type": "text_delta", "text": p}) for p in pieces],
            block_stop(0),
            message_delta("end_turn", 15),
            STOP,
        )
    )


def ask(text: str = "why is nginx returning 502?", **kw: Any) -> Request:
    return Request(model="claude-sonnet-4-5", messages=[Message.user(text)], **kw)


@pytest.fixture
def anthropic(wire_server):
    return AnthropicProvider(anthropic_settings(wire_server.url), None)


def test_plain_text_with_non_ascii_streams_whole_with_headers_and_default_max_tokens(
    anthropic, wire_server
):
    pieces = ["The upstream ", "pool is ", "exhausted — ", "größer als 512 ✓ 上游 🔥"]
    wire_server.expect(PATH, text_reply(*pieces))
    response, _ = aggregate(anthropic, ask(system="You are an SRE."))
    assert response.text == "".join(pieces)
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens == 25 and response.usage.output_tokens == 15
    sent = wire_server.requests_to(PATH)[0]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    body = sent.json()
    assert (
        body["system"] == "You are an SRE."
        and body["max_tokens"] == 4096
        and body["stream"] is True
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "why is nginx returning 502?"}]}
    ]


def test_parallel_tool_use_blocks_stream_input_json_and_end_parsed(anthropic, wire_server):
    events = [
        message_start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Let me check both."}),
        block_stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_01", "name": "tail_log", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": ""}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"unit": "ngi'}),
        delta(1, {"type": "input_json_delta", "partial_json": 'nx", "lines": 200}'}),
        block_stop(1),
        block_start(2, {"type": "tool_use", "id": "toolu_02", "name": "http_check", "input": {}}),
        delta(
            2,
            {"type": "input_json_delta", "partial_json": '{"url": "http://127.0.0.1:8080/health"}'},
        ),
        block_stop(2),
        message_delta("tool_use", 89),
        STOP,
    ]
    wire_server.expect(PATH, Reply(body=stream(*events)))
    tools = [ToolSpec(name="tail_log", description="tail a log")]
    response, got = aggregate(anthropic, ask(tools=tools))
    assert response.text == "Let me check both."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("toolu_01", "tail_log", {"unit": "nginx", "lines": 200}),
        ("toolu_02", "http_check", {"url": "http://127.0.0.1:8080/health"}),
    ]
    assert response.finish_reason == "tool_calls"
    assert [(e.index, e.name) for e in got if isinstance(e, ToolCallStart)] == [
        (0, "tail_log"),
        (1, "http_check"),
    ]
    assert all(e.arguments_delta for e in got if isinstance(e, ToolCallDelta))
    assert wire_server.requests_to(PATH)[0].json()["tools"] == [
        {
            "name": "tail_log",
            "description": "tail a log",
            "input_schema": {"type": "object", "properties": {}},
        }
    ]


def test_unparseable_tool_input_ends_the_call_with_the_reason_for_the_agent(anthropic, wire_server):
    events = [
        message_start(),
        block_start(0, {"type": "tool_use", "id": "toolu_9", "name": "run_command", "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": '{"command": '}),
        block_stop(0),
        message_delta("tool_use", 5),
        STOP,
    ]
    wire_server.expect(PATH, Reply(body=stream(*events)))
    events, error = collect(anthropic, ask())
    assert error is None  # the model's mistake, not a broken response: the agent tells it
    (end,) = [e for e in events if e.type == "tool_call_end"]
    assert (end.name, end.arguments) == ("run_command", {})
    assert end.arguments_error is not None and "not valid JSON" in end.arguments_error


def test_thinking_is_requested_streamed_with_its_signature_and_sent_back_later(
    anthropic, wire_server
):
    events = [
        message_start(),
        block_start(0, {"type": "thinking", "thinking": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "502 means the upstream "}),
        delta(0, {"type": "thinking_delta", "thinking": "refused or died."}),
        delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Check the upstream."}),
        block_stop(1),
        message_delta("end_turn", 120),
        STOP,
    ]
    wire_server.expect(PATH, Reply(body=stream(*events)), text_reply("ok"))
    response, _ = aggregate(anthropic, ask(thinking_budget=2048, temperature=0.5))
    assert response.thinking == "502 means the upstream refused or died."
    assert response.thinking_signature == "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"
    first = wire_server.requests_to(PATH)[0].json()
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "temperature" not in first and first["max_tokens"] > 2048

    history = [Message.user("why?"), response.to_message(), Message.user("and now?")]
    aggregate(anthropic, Request(model="claude-sonnet-4-5", messages=history))
    sent = wire_server.requests_to(PATH)[1].json()["messages"][1]
    assert sent["content"][0] == {
        "type": "thinking",
        "thinking": "502 means the upstream refused or died.",
        "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h",
    }


def test_an_explicit_max_tokens_below_the_thinking_budget_is_a_clear_bad_request(
    anthropic, wire_server
):
    _, error = collect(anthropic, ask(thinking_budget=4000, max_tokens=1000))
    assert error is not None and error.kind == "bad_request" and "thinking budget" in str(error)
    assert wire_server.requests == []


def test_cache_reads_and_writes_are_added_to_input_and_output_is_cumulative(anthropic, wire_server):
    usage = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 3000,
        "output_tokens": 1,
    }
    events = [
        message_start(usage),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "ok"}),
        block_stop(0),
        message_delta("end_turn", 7),
        message_delta("end_turn", 42),
        STOP,
    ]
    wire_server.expect(PATH, Reply(body=stream(*events)))
    response, _ = aggregate(anthropic, ask())
    assert response.usage.input_tokens == 4050
    assert response.usage.cache_read_tokens == 3000 and response.usage.cache_write_tokens == 1000
    assert response.usage.output_tokens == 42


@pytest.mark.parametrize(
    ("error_type", "kind", "retryable"),
    [
        ("overloaded_error", "overloaded", True),
        ("rate_limit_error", "rate_limit", True),
        ("api_error", "server", True),
        ("invalid_request_error", "bad_request", False),
        ("authentication_error", "auth", False),
        ("permission_error", "permission", False),
        ("not_found_error", "not_found", False),
        ("request_too_large", "context_length", False),
    ],
)
def test_an_error_event_mid_stream_maps_by_type(
    anthropic, wire_server, error_type, kind, retryable
):
    events = [
        message_start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Partial"}),
        {"type": "error", "error": {"type": error_type, "message": "Overloaded"}},
    ]
    wire_server.expect(PATH, Reply(body=stream(*events)))
    got, error = collect(anthropic, ask())
    assert [e.text for e in got if e.type == "text"] == ["Partial"]
    assert error is not None and error.kind == kind and error.retryable is retryable


def test_a_stream_without_message_stop_is_truncated(anthropic, wire_server):
    events = [
        message_start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "half"}),
    ]
    wire_server.expect(PATH, Reply(body=stream(*events)))
    _, error = collect(anthropic, ask())
    assert error is not None and error.kind == "connection" and "truncated" in str(error)


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (401, "authentication_error", "auth"),
        (403, "permission_error", "permission"),
        (404, "not_found_error", "not_found"),
        (413, "request_too_large", "context_length"),
        (429, "rate_limit_error", "rate_limit"),
        (500, "api_error", "server"),
        (529, "overloaded_error", "overloaded"),
        (400, "invalid_request_error", "bad_request"),
    ],
)
def test_non_2xx_bodies_map_by_error_type(anthropic, wire_server, status, error_type, kind):
    payload = {
        "type": "error",
        "error": {"type": error_type, "message": f"bad thing, key {ANTHROPIC_KEY}"},
    }
    wire_server.expect(
        PATH, json_reply(status, payload, {"retry-after": "3"} if status == 429 else None)
    )
    _, error = collect(anthropic, ask())
    assert error is not None and error.kind == kind and error.status == status
    assert ANTHROPIC_KEY not in str(error)
    if status == 429:
        assert error.retry_after == 3.0


def test_a_long_prompt_400_is_context_length(anthropic, wire_server):
    payload = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum",
        },
    }
    wire_server.expect(PATH, json_reply(400, payload))
    _, error = collect(anthropic, ask())
    assert error is not None and error.kind == "context_length"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reasons_map(anthropic, wire_server, raw, reason):
    events = [
        message_start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "x"}),
        block_stop(0),
        message_delta(raw, 2),
        STOP,
    ]
    wire_server.expect(PATH, Reply(body=stream(*events)))
    response, got = aggregate(anthropic, ask())
    assert response.finish_reason == reason and got[-1].raw_reason == raw


def test_history_merges_tool_results_into_one_user_turn_and_system_messages_go_top_level(
    anthropic, wire_server
):
    wire_server.expect(PATH, text_reply("done"))
    calls = [
        ToolCall(id="toolu_a", name="read_file", arguments={"path": "/etc/hosts"}),
        ToolCall(id="toolu_b", name="system_info", arguments={}),
    ]
    history = [
        Message.system("extra rules"),
        Message.user("check the host"),
        Message(
            role="assistant",
            parts=[ThinkingPart(text="unsigned, dropped"), TextPart(text="checking")],
        ),
        Message.assistant("", tool_calls=calls),
        Message.tool_result("toolu_a", "127.0.0.1 localhost"),
        Message.tool_result("toolu_b", "timeout", is_error=True),
        Message.user("and?"),
    ]
    aggregate(
        anthropic, Request(model="claude-sonnet-4-5", messages=history, system="base", stop=["END"])
    )
    body = wire_server.requests_to(PATH)[0].json()
    assert body["system"] == "base\n\nextra rules" and body["stop_sequences"] == ["END"]
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]
    assistant = body["messages"][1]["content"]
    assert [b["type"] for b in assistant] == ["text", "tool_use", "tool_use"]
    last = body["messages"][2]["content"]
    assert [b["type"] for b in last] == ["tool_result", "tool_result", "text"]
    assert last[1] == {
        "type": "tool_result",
        "tool_use_id": "toolu_b",
        "content": "timeout",
        "is_error": True,
    }
