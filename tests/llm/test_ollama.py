"""Ollama adapter over a real loopback HTTP server, fed NDJSON transcripts in random pieces.

Transcripts follow Ollama's documented `/api/chat` stream: one JSON object per line with
`message` {role, content, thinking, tool_calls [{function: {name, arguments: OBJECT}}]},
and a final `done: true` line with done_reason, prompt_eval_count and eval_count.
"""

from __future__ import annotations

from typing import Any

import pytest

from opscopilot.llm.providers import open_provider
from opscopilot.llm.types import Message, Request, ToolCallPart, ToolSpec
from tests.llm.streaming import aggregate, collect
from tests.support.wire_server import Reply, json_reply, ndjson

PATH = "/api/chat"
MODEL = "llama3.2"


@pytest.fixture
def ollama(wire_server, monkeypatch):
    host = wire_server.url.removeprefix("http://")  # OLLAMA_HOST is often host:port
    monkeypatch.setenv("OLLAMA_HOST", host)
    return open_provider("ollama", None)


def line(content: str = "", **message: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "created_at": "2025-05-27T22:54:57.641643Z",
        "message": {"role": "assistant", "content": content, **message},
        "done": False,
    }


def done(reason: str = "stop", prompt: int = 26, output: int = 12) -> dict[str, Any]:
    return {
        "model": MODEL,
        "created_at": "2025-05-27T22:54:58.100000Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": reason,
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 342546000,
        "eval_count": output,
        "eval_duration": 4535599000,
    }


def ask(text: str = "what is listening?", **kwargs: Any) -> Request:
    return Request(model=MODEL, messages=[Message.user(text)], **kwargs)


def test_plain_text_with_non_ascii_and_usage_from_the_done_line(ollama, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            content_type="application/x-ndjson",
            body=ndjson(
                line("Port 443 écoute — "),
                line("nginx ✓ 日本"),
                done(prompt=31, output=9),
            ),
        ),
    )
    response, _ = aggregate(
        ollama, ask(system="Be brief.", max_tokens=64, temperature=0.0, stop=["\n\n"])
    )
    assert response.text == "Port 443 écoute — nginx ✓ 日本"
    assert response.finish_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (31, 9)
    (sent,) = wire_server.requests_to(PATH)
    assert "authorization" not in sent.headers  # no key needed
    body = sent.json()
    assert body["stream"] is True and body["model"] == MODEL
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "what is listening?"},
    ]
    assert body["options"] == {"num_predict": 64, "temperature": 0.0, "stop": ["\n\n"]}
    assert "think" not in body


def test_parallel_tool_calls_with_object_arguments_get_ids_and_tool_calls_finish(
    ollama, wire_server
):
    wire_server.expect(
        PATH,
        Reply(
            content_type="application/x-ndjson",
            body=ndjson(
                line(
                    tool_calls=[
                        {"function": {"name": "run_command", "arguments": {"command": "ss -ltn"}}},
                        {
                            "function": {
                                "name": "tail_log",
                                "arguments": {"unit": "nginx", "lines": 50},
                            }
                        },
                    ]
                ),
                done(reason="stop"),
            ),
        ),
    )
    tools = [
        ToolSpec(
            name="run_command",
            description="run a command",
            parameters={
                "type": "object",
                "properties": {"command": {"type": "string"}},
                "required": ["command"],
            },
        )
    ]
    history = [
        Message.user("disk?"),
        Message(
            role="assistant",
            parts=[ToolCallPart(id="call_0", name="run_command", arguments={"command": "df -h"})],
        ),
        Message.tool_result("call_0", "/dev/vda 252G 22G 80G 22% /"),
        Message.user("and ports and nginx logs?"),
    ]
    response, _ = aggregate(ollama, Request(model=MODEL, messages=history, tools=tools))
    assert response.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_1", "run_command", {"command": "ss -ltn"}),
        ("call_2", "tail_log", {"unit": "nginx", "lines": 50}),
    ]
    body = wire_server.requests_to(PATH)[0].json()
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "run_command",
            "description": "run a command",
            "parameters": tools[0].parameters,
        },
    }
    assert body["messages"][1:3] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "run_command", "arguments": {"command": "df -h"}}}
            ],
        },
        {"role": "tool", "content": "/dev/vda 252G 22G 80G 22% /", "tool_name": "run_command"},
    ]


def test_thinking_streams_as_thinking_when_think_is_requested(ollama, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            content_type="application/x-ndjson",
            body=ndjson(
                line(thinking="Load 3.2 on "),
                line(thinking="2 cores is high."),
                line("The box is overloaded."),
                done(),
            ),
        ),
    )
    response, _ = aggregate(ollama, ask("why slow?", thinking_budget=2048))
    assert response.thinking == "Load 3.2 on 2 cores is high."
    assert response.text == "The box is overloaded."
    assert wire_server.requests_to(PATH)[0].json()["think"] is True


def test_length_done_reason_maps_to_length(ollama, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            content_type="application/x-ndjson", body=ndjson(line("cut of"), done(reason="length"))
        ),
    )
    response, _ = aggregate(ollama, ask())
    assert response.finish_reason == "length"


def test_an_error_line_mid_stream_is_an_llm_error_after_the_text(ollama, wire_server):
    wire_server.expect(
        PATH,
        Reply(
            content_type="application/x-ndjson",
            body=ndjson(
                line("Partial "),
                {"error": "an error was encountered while running the model: unexpected EOF"},
            ),
        ),
    )
    events, error = collect(ollama, ask())
    assert [e.text for e in events if e.type == "text"] == ["Partial "]
    assert error is not None and error.kind == "server" and error.retryable
    assert "unexpected EOF" in str(error)


def test_a_stream_without_its_done_line_is_a_connection_error(ollama, wire_server):
    body = ndjson(line("Listening on "), line("443 and 80"))
    wire_server.expect(
        PATH,
        Reply(content_type="application/x-ndjson", body=body),
        Reply(content_type="application/x-ndjson", body=body, abort_after=90),
    )
    for _ in range(2):  # ends cleanly without done: true; then drops mid-line
        _, error = collect(ollama, ask())
        assert error is not None and error.kind == "connection"


HTTP_ERRORS = [
    (401, "auth"),
    (403, "permission"),
    (404, "not_found"),
    (500, "server"),
    (503, "overloaded"),
]


def test_http_errors_map_to_kinds(ollama, wire_server):
    for status, _ in HTTP_ERRORS:
        wire_server.expect(PATH, json_reply(status, {"error": f"model {MODEL!r} says {status}"}))
    for status, kind in HTTP_ERRORS:
        _, error = collect(ollama, ask())
        assert error is not None and (error.kind, error.status) == (kind, status)
        assert f"says {status}" in str(error)


def test_rate_limit_keeps_retry_after(ollama, wire_server):
    wire_server.expect(
        PATH, json_reply(429, {"error": "too many requests"}, headers={"Retry-After": "3"})
    )
    _, error = collect(ollama, ask())
    assert error is not None and error.kind == "rate_limit" and error.retry_after == 3.0


def test_a_configured_key_goes_as_a_bearer_token(wire_server, isolated_home):
    (isolated_home / "config.toml").write_text(
        f'[providers.ollama]\nbase_url = "{wire_server.url}"\napi_key = "ollama-secret-123"\n'
    )
    wire_server.expect(
        PATH, Reply(content_type="application/x-ndjson", body=ndjson(line("hi"), done()))
    )
    aggregate(open_provider("ollama", None), ask())
    assert wire_server.requests_to(PATH)[0].headers["authorization"] == "Bearer ollama-secret-123"


def test_nothing_listening_is_a_connection_error_that_names_ollama(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # discard port: nothing listens
    _, error = collect(open_provider("ollama", None), ask())
    assert error is not None and error.kind == "connection"
    assert "ollama serve" in str(error)
