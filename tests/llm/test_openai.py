"""The OpenAI adapter over real loopback HTTP, with chat.completion.chunk transcripts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opscopilot.llm.providers import open_provider, settings_for
from opscopilot.llm.providers.openai import OpenAIProvider, usage_from_openai
from opscopilot.llm.types import (
    ImagePart,
    Message,
    Request,
    TextPart,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolSpec,
)
from tests.llm.streaming import OPENAI_KEY, aggregate, collect, openai_settings
from tests.support.wire_server import Reply, json_reply, sse

PATH = "/v1/chat/completions"


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One chat.completion.chunk as the API documents it."""
    body: dict[str, Any] = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
    }
    body.update(extra)
    return body


def usage_chunk(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [],
        "usage": usage,
    }


def text_stream(*pieces: str, usage: dict[str, Any] | None = None) -> bytes:
    events: list[Any] = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": p}) for p in pieces]
    events.append(chunk({}, "stop"))
    events.append(
        usage_chunk(usage or {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21})
    )
    events.append("[DONE]")
    return sse(*events)


def ask(text: str = "is the disk full?", **kw: Any) -> Request:
    return Request(model="gpt-4o-mini", messages=[Message.user(text)], **kw)


@pytest.fixture
def openai(wire_server):
    return OpenAIProvider(openai_settings(wire_server.url), None)


def test_plain_text_with_non_ascii_arrives_whole_with_usage(openai, wire_server):
    pieces = ["Disk ", "/var is 93 % full — ", "clean ", "journald: ünïcødé ✓ 日本語 🚀"]
    wire_server.expect(PATH, Reply(body=text_stream(*pieces)))
    response, events = aggregate(openai, ask(system="be terse", max_tokens=200, temperature=0.2))
    assert response.text == "".join(pieces)
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens == 9 and response.usage.output_tokens == 12
    assert events[-1].type == "finish"
    sent = wire_server.requests_to(PATH)[0]
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    body = sent.json()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "be terse"},
        {"role": "user", "content": "is the disk full?"},
    ]
    assert body["max_completion_tokens"] == 200 and body["temperature"] == 0.2


def test_parallel_tool_calls_stream_by_index_and_end_with_parsed_arguments(openai, wire_server):
    events = [
        chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": ""},
                    }
                ],
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"pa'}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "tail_log", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"unit": "nginx", '}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'th": "/etc/hosts"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '"lines": 50}'}}]}),
        chunk({}, "tool_calls"),
        usage_chunk({"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120}),
        "[DONE]",
    ]
    wire_server.expect(PATH, Reply(body=sse(*events)))
    tools = [
        ToolSpec(name="read_file", description="read a file"),
        ToolSpec(name="tail_log", description="tail"),
    ]
    response, stream = aggregate(openai, ask(tools=tools))
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_a", "read_file", {"path": "/etc/hosts"}),
        ("call_b", "tail_log", {"unit": "nginx", "lines": 50}),
    ]
    assert response.finish_reason == "tool_calls"
    starts = [e for e in stream if isinstance(e, ToolCallStart)]
    assert [(s.index, s.id, s.name) for s in starts] == [
        (0, "call_a", "read_file"),
        (1, "call_b", "tail_log"),
    ]
    deltas = "".join(
        e.arguments_delta for e in stream if isinstance(e, ToolCallDelta) and e.index == 1
    )
    assert json.loads(deltas) == {"unit": "nginx", "lines": 50}
    sent = wire_server.requests_to(PATH)[0].json()
    assert sent["tools"][0] == {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "read a file",
            "parameters": {"type": "object", "properties": {}},
        },
    }


def test_unparseable_tool_arguments_end_the_call_with_the_reason_for_the_agent(openai, wire_server):
    events = [
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_x",
                        "type": "function",
                        "function": {"name": "run_command", "arguments": '{"command": "df -h'},
                    }
                ]
            }
        ),
        chunk({}, "tool_calls"),
        "[DONE]",
    ]
    wire_server.expect(PATH, Reply(body=sse(*events)))
    events, error = collect(openai, ask())
    assert error is None  # the model's mistake, not a broken response: the agent tells it
    (end,) = [e for e in events if e.type == "tool_call_end"]
    assert (end.name, end.arguments) == ("run_command", {})
    assert end.arguments_error is not None and "not valid JSON" in end.arguments_error
    assert "df -h" in end.arguments_error  # what it sent, so the model sees its mistake


def test_reasoning_fields_become_thinking_and_reasoning_tokens_are_part_of_output(
    openai, wire_server
):
    events = [
        chunk({"role": "assistant", "reasoning_content": "Load is high; "}),
        chunk({"reasoning": "check the top processes."}),
        chunk({"content": "Look at PID 4242."}),
        chunk({}, "stop"),
        usage_chunk(
            {
                "prompt_tokens": 30,
                "completion_tokens": 50,
                "total_tokens": 80,
                "completion_tokens_details": {"reasoning_tokens": 38},
            }
        ),
        "[DONE]",
    ]
    wire_server.expect(PATH, Reply(body=sse(*events)))
    response, stream = aggregate(openai, ask())
    assert response.thinking == "Load is high; check the top processes."
    assert response.text == "Look at PID 4242."
    assert [type(e) for e in stream[:2]] == [ThinkingDelta, ThinkingDelta]
    assert response.usage.output_tokens == 50 and response.usage.reasoning_tokens == 38


def test_cached_prompt_tokens_are_reads_inside_input(openai, wire_server):
    usage = {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    wire_server.expect(PATH, Reply(body=text_stream("ok", usage=usage)))
    response, _ = aggregate(openai, ask())
    assert response.usage.input_tokens == 2006
    assert response.usage.cache_read_tokens == 1920
    assert response.usage.output_tokens == 300


def test_usage_normalisation_for_compatible_servers():
    deepseek = usage_from_openai(
        {"prompt_tokens": 100, "completion_tokens": 10, "prompt_cache_hit_tokens": 64}
    )
    assert deepseek.cache_read_tokens == 64
    outside = usage_from_openai(
        {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 35,
            "completion_tokens_details": {"reasoning_tokens": 20},
        }
    )
    assert outside.output_tokens == 25 and outside.reasoning_tokens == 20


def test_an_error_object_mid_stream_is_an_llm_error_after_the_text_before_it(openai, wire_server):
    events = [
        chunk({"content": "Checking "}),
        {
            "error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
    ]
    wire_server.expect(PATH, Reply(body=sse(*events)))
    stream, error = collect(openai, ask())
    assert [e.text for e in stream if e.type == "text"] == ["Checking "]
    assert error is not None and error.kind == "server" and error.retryable


def test_a_vllm_error_chunk_is_mapped_too(openai, wire_server):
    body = sse(
        {
            "object": "error",
            "message": "maximum context length is 4096 tokens",
            "type": "BadRequestError",
            "param": None,
            "code": "context_length_exceeded",
        }
    )
    wire_server.expect(PATH, Reply(body=body))
    _, error = collect(openai, ask())
    assert error is not None and error.kind == "context_length" and not error.retryable


def test_a_stream_cut_before_finish_and_done_is_a_truncated_connection_error(openai, wire_server):
    body = sse(chunk({"content": "The disk is "}), chunk({"content": "almost"}))
    wire_server.expect(PATH, Reply(body=body))
    stream, error = collect(openai, ask())
    assert error is not None and error.kind == "connection" and "truncated" in str(error)
    assert "".join(e.text for e in stream if e.type == "text") == "The disk is almost"


def test_a_dropped_connection_mid_body_is_a_connection_error(openai, wire_server):
    body = text_stream("x" * 400)
    wire_server.expect(PATH, Reply(body=body, abort_after=len(body) // 2))
    _, error = collect(openai, ask())
    assert error is not None and error.kind == "connection" and error.retryable


def test_a_hang_up_after_finish_reason_loses_nothing(openai, wire_server):
    body = sse(chunk({"content": "done"}), chunk({}, "length"))
    wire_server.expect(PATH, Reply(body=body))
    response, _ = aggregate(openai, ask())
    assert response.text == "done" and response.finish_reason == "length"


def test_401_is_auth_and_the_key_never_reaches_the_error_text(openai, wire_server):
    payload = {
        "error": {
            "message": f"Incorrect API key provided: {OPENAI_KEY}.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    wire_server.expect(PATH, json_reply(401, payload))
    _, error = collect(openai, ask())
    assert error is not None and error.kind == "auth" and not error.retryable
    assert OPENAI_KEY not in str(error) and "REDACTED" in str(error)


def test_429_carries_retry_after_and_quota_exhaustion_is_not_retryable(openai, wire_server):
    wire_server.expect(
        PATH,
        json_reply(
            429,
            {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
            {"retry-after": "7"},
        ),
        json_reply(
            429,
            {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}},
        ),
    )
    _, limited = collect(openai, ask())
    assert (
        limited is not None
        and limited.kind == "rate_limit"
        and limited.retry_after == 7.0
        and limited.retryable
    )
    _, quota = collect(openai, ask())
    assert quota is not None and quota.kind == "rate_limit" and not quota.retryable


def test_a_server_that_rejects_stream_options_gets_one_retry_without_it(openai, wire_server):
    rejection = json_reply(
        400,
        {
            "error": {
                "message": "Unrecognized request argument supplied: stream_options",
                "type": "invalid_request_error",
            }
        },
    )
    wire_server.expect(
        PATH, rejection, Reply(body=text_stream("hi")), Reply(body=text_stream("again"))
    )
    response, _ = aggregate(openai, ask())
    assert response.text == "hi"
    first, second = (r.json() for r in wire_server.requests_to(PATH)[:2])
    assert "stream_options" in first and "stream_options" not in second
    aggregate(openai, ask())  # the adapter remembers: no third rejection round-trip
    assert len(wire_server.requests_to(PATH)) == 3
    assert "stream_options" not in wire_server.requests_to(PATH)[2].json()


def test_a_second_stream_options_rejection_is_not_retried_again(openai, wire_server):
    other = json_reply(400, {"error": {"message": "bad value for temperature"}})
    wire_server.expect(PATH, other)
    _, error = collect(openai, ask())
    assert error is not None and error.kind == "bad_request"
    assert len(wire_server.requests_to(PATH)) == 1


def test_history_with_tool_calls_results_and_images_translates_to_chat_messages(
    openai, wire_server
):
    wire_server.expect(PATH, Reply(body=text_stream("fine")))
    messages = [
        Message(
            role="user",
            parts=[TextPart(text="what is this?"), ImagePart(media_type="image/png", data="iVBOR")],
        ),
        Message.assistant(
            "let me look",
            tool_calls=[
                ToolCall(id="call_1", name="read_file", arguments={"path": "/etc/os-release"})
            ],
        ),
        Message.tool_result("call_1", "no such file", is_error=True),
    ]
    aggregate(openai, Request(model="gpt-4o-mini", messages=messages))
    sent = wire_server.requests_to(PATH)[0].json()["messages"]
    assert sent[0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
    ]
    assert sent[1]["tool_calls"][0]["function"] == {
        "name": "read_file",
        "arguments": '{"path": "/etc/os-release"}',
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "[error] no such file"}


def test_presets_use_this_adapter_with_max_tokens_and_no_key_when_optional(
    wire_server, monkeypatch
):
    monkeypatch.setenv("VLLM_BASE_URL", f"{wire_server.url}/v1")
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    provider = open_provider("vllm", None)
    assert isinstance(provider, OpenAIProvider) and settings_for("vllm").adapter == "openai"
    wire_server.expect(PATH, Reply(body=text_stream("local")))
    response, _ = aggregate(provider, ask(max_tokens=64))
    assert response.text == "local"
    sent = wire_server.requests_to(PATH)[0]
    assert "authorization" not in sent.headers
    assert sent.json()["max_tokens"] == 64


def test_a_required_key_that_is_missing_is_a_clear_auth_error_before_any_request(wire_server):
    monkeypatch_free = settings_for("openai")  # no key in the test environment
    provider = OpenAIProvider(monkeypatch_free, None)
    _, error = collect(provider, ask())
    assert error is not None and error.kind == "auth" and not error.retryable
    assert "OPENAI_API_KEY" in str(error)
    assert wire_server.requests == []
