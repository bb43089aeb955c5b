"""Gemini adapter over a real loopback HTTP server, fed transcripts in random 1-64 byte pieces.

Transcripts follow the documented `streamGenerateContent?alt=sse` shape: every SSE event is a
whole GenerateContentResponse (candidates[0].content.parts, finishReason on the last,
usageMetadata cumulative), and errors are google.rpc `{"error": {code, message, status}}`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from opscopilot.llm.providers import open_provider
from opscopilot.llm.providers.gemini_request import build_body, gemini_schema
from opscopilot.llm.types import (
    LLMError,
    Message,
    Request,
    ThinkingPart,
    ToolCallPart,
    ToolSpec,
    UsageUpdate,
)
from tests.llm.streaming import aggregate, collect
from tests.support.wire_server import Reply, json_reply, sse

KEY = "AIzaSyTESTKEY-0123456789abcdefghij"
MODEL = "gemini-2.5-flash"
PATH = f"/v1beta/models/{MODEL}:streamGenerateContent"


@pytest.fixture
def gemini(wire_server, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_BASE_URL", wire_server.url)
    return open_provider("gemini", None)


def chunk(parts: list[dict[str, Any]], finish: str | None = None, **usage: int) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {"candidates": [candidate], "modelVersion": MODEL, "responseId": "r1"}
    if usage:
        body["usageMetadata"] = {**usage, "totalTokenCount": sum(usage.values())}
    return body


def ask(text: str = "how full are the disks?", **kwargs: Any) -> Request:
    return Request(model=MODEL, messages=[Message.user(text)], **kwargs)


def test_plain_text_with_non_ascii_streams_whole_and_key_stays_out_of_the_url(gemini, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            body=sse(
                chunk(
                    [{"text": "Le disque / est plein à 92 % — "}],
                    promptTokenCount=12,
                    candidatesTokenCount=9,
                ),
                chunk(
                    [{"text": "nettoyez /var/log. 日本語 ✓"}],
                    "STOP",
                    promptTokenCount=12,
                    candidatesTokenCount=17,
                ),
            )
        ),
    )
    response, events = aggregate(
        gemini, ask(system="You are an SRE.", max_tokens=256, temperature=0.2)
    )
    assert response.text == "Le disque / est plein à 92 % — nettoyez /var/log. 日本語 ✓"
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens == 12
    assert response.usage.output_tokens == 17
    assert [e.type for e in events][-1] == "finish"

    (sent,) = wire_server.requests_to(PATH)
    assert sent.query == "alt=sse"
    assert sent.headers["x-goog-api-key"] == KEY
    assert KEY not in sent.path + sent.query
    body = sent.json()
    assert body["contents"] == [{"role": "user", "parts": [{"text": "how full are the disks?"}]}]
    assert body["systemInstruction"] == {"parts": [{"text": "You are an SRE."}]}
    assert body["generationConfig"] == {"maxOutputTokens": 256, "temperature": 0.2}


def test_parallel_function_calls_get_synthesized_ids_after_earlier_calls(gemini, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            body=sse(
                chunk([{"text": "Checking both."}]),
                chunk(
                    [
                        {
                            "functionCall": {"name": "run_command", "args": {"command": "df -h"}},
                            "thoughtSignature": "c2lnLTE=",
                        },
                        {
                            "functionCall": {
                                "name": "http_check",
                                "args": {"url": "https://ops.example/ü"},
                            }
                        },
                    ],
                    "STOP",
                    promptTokenCount=40,
                    candidatesTokenCount=22,
                ),
            )
        ),
    )
    history = [
        Message.user("check memory"),
        Message(
            role="assistant",
            parts=[
                ThinkingPart(text="", signature="b2xkLXNpZw=="),
                ToolCallPart(id="call_0", name="run_command", arguments={"command": "free -m"}),
            ],
        ),
        Message.tool_result("call_0", "Mem: 24105 445 23227"),  # no name: found via the call
        Message.user("now disks and the site"),
    ]
    response, events = aggregate(gemini, Request(model=MODEL, messages=history))
    assert response.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_1", "run_command", {"command": "df -h"}),
        ("call_2", "http_check", {"url": "https://ops.example/ü"}),
    ]
    assert response.thinking_signature == "c2lnLTE="
    kinds = [e.type for e in events if e.type.startswith("tool_call")]
    assert kinds == ["tool_call_start", "tool_call_delta", "tool_call_end"] * 2

    contents = wire_server.requests_to(PATH)[0].json()["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [
        {
            "functionCall": {"name": "run_command", "args": {"command": "free -m"}},
            "thoughtSignature": "b2xkLXNpZw==",
        }
    ]
    # The tool result and the next user text share one user turn, answered by NAME.
    assert contents[2]["parts"] == [
        {
            "functionResponse": {
                "name": "run_command",
                "response": {"result": "Mem: 24105 445 23227"},
            }
        },
        {"text": "now disks and the site"},
    ]


def test_thinking_parts_become_thinking_and_thoughts_are_billed_as_output(gemini, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            body=sse(
                chunk(
                    [{"text": "The load is high; ", "thought": True}],
                    promptTokenCount=30,
                    thoughtsTokenCount=64,
                ),
                chunk(
                    [
                        {
                            "text": "check uptime first.",
                            "thought": True,
                            "thoughtSignature": "dGhvdWdodA==",
                        }
                    ],
                    promptTokenCount=30,
                    thoughtsTokenCount=120,
                ),
                chunk(
                    [{"text": "Load is 3.2 on 2 cores."}],
                    "STOP",
                    promptTokenCount=30,
                    candidatesTokenCount=10,
                    thoughtsTokenCount=120,
                ),
            )
        ),
    )
    response, _ = aggregate(gemini, ask("why slow?", thinking_budget=1024))
    assert response.thinking == "The load is high; check uptime first."
    assert response.thinking_signature == "dGhvdWdodA=="
    assert response.text == "Load is 3.2 on 2 cores."
    assert response.usage.output_tokens == 130
    assert response.usage.reasoning_tokens == 120
    config = wire_server.requests_to(PATH)[0].json()["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}


def test_cached_content_tokens_are_part_of_input_and_reported_as_cache_reads(gemini, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            body=sse(
                chunk(
                    [{"text": "ok"}],
                    "STOP",
                    promptTokenCount=5000,
                    cachedContentTokenCount=4096,
                    candidatesTokenCount=3,
                ),
            )
        ),
    )
    events, error = collect(gemini, ask())
    assert error is None
    usage = [e for e in events if isinstance(e, UsageUpdate)][-1].usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (5000, 4096, 3)


def test_mid_stream_error_keeps_the_text_before_it_and_maps_the_status(gemini, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            body=sse(
                chunk([{"text": "Partial answer"}]),
                {
                    "error": {
                        "code": 503,
                        "message": "The model is overloaded.",
                        "status": "UNAVAILABLE",
                    }
                },
            )
        ),
    )
    events, error = collect(gemini, ask())
    assert [e.text for e in events if e.type == "text"] == ["Partial answer"]
    assert error is not None and error.kind == "overloaded" and error.retryable
    assert "overloaded" in str(error)


def test_a_stream_cut_before_finish_reason_is_a_connection_error(gemini, wire_server):
    body = sse(chunk([{"text": "Disk usage is "}]), chunk([{"text": "fine so far and more"}]))
    wire_server.expect(PATH, Reply(body=body), Reply(body=body, abort_after=100))
    for _ in range(2):  # ends cleanly without a finishReason; then drops mid-event
        _, error = collect(gemini, ask())
        assert error is not None and error.kind == "connection" and error.retryable


def test_a_bad_key_is_auth_and_the_key_never_reaches_the_error_text(gemini, wire_server):
    wire_server.expect(
        PATH,
        json_reply(
            400,
            {
                "error": {
                    "code": 400,
                    "status": "INVALID_ARGUMENT",
                    "message": f"API key not valid. Please pass a valid API key. (got {KEY})",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                        }
                    ],
                }
            },
        ),
    )
    _, error = collect(gemini, ask())
    assert error is not None and error.kind == "auth" and not error.retryable
    assert KEY not in str(error)


HTTP_ERRORS = [
    (401, "UNAUTHENTICATED", "auth"),
    (403, "PERMISSION_DENIED", "permission"),
    (500, "INTERNAL", "server"),
    (503, "UNAVAILABLE", "overloaded"),
    (404, "NOT_FOUND", "not_found"),
]


def test_http_errors_map_to_kinds(gemini, wire_server):
    for status, rpc, _ in HTTP_ERRORS:
        wire_server.expect(
            PATH,
            json_reply(
                status,
                {"error": {"code": status, "message": f"{rpc.lower()} happened", "status": rpc}},
            ),
        )
    for status, rpc, kind in HTTP_ERRORS:
        _, error = collect(gemini, ask())
        assert error is not None and (error.kind, error.status) == (kind, status), rpc
        assert error.retryable == (kind in {"server", "overloaded"})
        assert f"{rpc.lower()} happened" in str(error)


def test_rate_limit_takes_retry_after_from_the_header(gemini, wire_server):
    wire_server.expect(
        PATH,
        json_reply(
            429,
            {
                "error": {
                    "code": 429,
                    "message": "Resource has been exhausted",
                    "status": "RESOURCE_EXHAUSTED",
                }
            },
            headers={"Retry-After": "7"},
        ),
    )
    _, error = collect(gemini, ask())
    assert error is not None and error.kind == "rate_limit" and error.retry_after == 7.0


def test_rate_limit_as_a_json_array_takes_retry_after_from_retry_info(gemini, wire_server):
    wire_server.expect(
        PATH,
        json_reply(
            429,
            [
                {
                    "error": {
                        "code": 429,
                        "message": "You exceeded your current quota.",
                        "status": "RESOURCE_EXHAUSTED",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                                "retryDelay": "32s",
                            }
                        ],
                    }
                }
            ],
        ),
    )
    _, error = collect(gemini, ask())
    assert error is not None and error.kind == "rate_limit" and error.retry_after == 32.0
    assert "exceeded your current quota" in str(error)


def test_a_blocked_prompt_is_a_content_filter_error(gemini, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            body=sse(
                {
                    "promptFeedback": {"blockReason": "SAFETY"},
                    "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
                },
            )
        ),
    )
    _, error = collect(gemini, ask())
    assert error is not None and error.kind == "content_filter" and "SAFETY" in str(error)


FINISHES = [
    ("MAX_TOKENS", "length"),
    ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"),
    ("OTHER", "stop"),
]


def test_finish_reasons_map(gemini, wire_server):
    for raw, _ in FINISHES:
        wire_server.expect(PATH, Reply(body=sse(chunk([{"text": "cut"}], raw))))
    for raw, reason in FINISHES:
        response, events = aggregate(gemini, ask())
        assert (response.finish_reason, events[-1].raw_reason) == (reason, raw)


def test_no_key_is_a_clear_auth_error_before_any_request(wire_server, monkeypatch):
    monkeypatch.setenv("GEMINI_BASE_URL", wire_server.url)
    _, error = collect(open_provider("gemini", None), ask())
    assert error is not None and error.kind == "auth" and "GEMINI_API_KEY" in str(error)
    assert wire_server.requests == []


class Inner(BaseModel):
    level: int = Field(description="severity", ge=0)


class Args(BaseModel):
    path: str = Field(title="Path", description="a log file")
    lines: int | None = None
    inner: Inner
    mode: str = Field(default="tail", json_schema_extra={"const": "tail"})
    model_config = {"extra": "forbid"}


def test_tool_schemas_are_rewritten_into_gemini_s_dialect():
    spec = ToolSpec(name="tail_log", description="tail", parameters=Args.model_json_schema())
    body = build_body(Request(model=MODEL, messages=[Message.user("x")], tools=[spec]))
    parameters = body["tools"][0]["functionDeclarations"][0]["parameters"]
    text = json.dumps(parameters)
    for banned in ("title", "additionalProperties", "$defs", "$ref", "default", "exclusiveMinimum"):
        assert banned not in text
    assert parameters["properties"]["lines"] == {"type": "integer", "nullable": True}
    assert parameters["properties"]["inner"]["properties"]["level"] == {
        "type": "integer",
        "description": "severity",
        "minimum": 0,
    }
    assert parameters["properties"]["mode"]["enum"] == ["tail"]
    assert parameters["required"] == ["path", "inner"]


def test_a_tool_without_arguments_omits_parameters_and_unknown_results_are_rejected():
    empty = ToolSpec(name="system_info", description="load, memory, disks")
    body = build_body(Request(model=MODEL, messages=[Message.user("x")], tools=[empty]))
    assert body["tools"][0]["functionDeclarations"][0] == {
        "name": "system_info",
        "description": "load, memory, disks",
    }
    assert gemini_schema({"type": ["string", "null"]}) == {"type": "string", "nullable": True}
    orphan = Request(model=MODEL, messages=[Message.tool_result("call_9", "out")])
    with pytest.raises(LLMError) as caught:
        build_body(orphan)
    assert caught.value.kind == "bad_request"
