"""Replies other servers really send: a 200 that is not a stream, a connection dropped after
the request, a retry-after beyond the retry budget, and proxies on the way. All over real
sockets on loopback."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from opscopilot.llm.client import LLMClient, RetryPolicy
from opscopilot.llm.types import Message, Request, StreamError
from tests.llm.streaming import OPENAI_KEY
from tests.llm.test_openai import text_stream
from tests.support.forward_proxy import ForwardProxy
from tests.support.wire_server import Reply, json_reply, ndjson

OPENAI = "/v1/chat/completions"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class Recorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def run(chain: str, policy: RetryPolicy | None = None) -> tuple[list[Any], list[float]]:
    sleep = Recorder()
    client = LLMClient(policy=policy or RetryPolicy(), sleep=sleep, rand=lambda: 1.0)
    request = Request(model="m", messages=[Message.user("is the disk full?")])

    async def go() -> list[Any]:
        try:
            return [item async for item in client.stream(chain, request)]
        finally:
            await client.aclose()

    return anyio.run(go), sleep.delays


def final_error(items: list[Any]) -> Any:
    assert isinstance(items[-1], StreamError), items[-1]
    return items[-1].error


@pytest.fixture
def openai_env(wire_server, monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{wire_server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return wire_server


def attempts(items: list[Any]) -> int:
    return sum(1 for item in items if getattr(item, "type", "") == "attempt")


def test_a_200_json_reply_is_invalid_response_naming_the_content_type_and_not_retried(
    openai_env,
):
    openai_env.expect(OPENAI, json_reply(200, {"error": {"message": "model is loading"}}))
    items, delays = run("openai:gpt-4o-mini")
    error = final_error(items)
    assert error.kind == "invalid_response" and not error.retryable
    assert "application/json" in error.message and "model is loading" in error.message
    assert "\n" not in str(error)
    assert attempts(items) == 1 and delays == []
    assert len(openai_env.requests) == 1


def test_a_200_html_page_is_invalid_response_too(openai_env):
    page = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
    openai_env.expect(OPENAI, Reply(body=page, content_type="text/html; charset=utf-8"))
    error = final_error(run("openai:gpt-4o-mini")[0])
    assert error.kind == "invalid_response" and "text/html" in error.message


def test_a_stream_with_a_charset_parameter_is_still_a_stream(openai_env):
    openai_env.expect(
        OPENAI, Reply(body=text_stream("ok"), content_type="text/event-stream; charset=utf-8")
    )
    items, _ = run("openai:gpt-4o-mini")
    assert "".join(getattr(i, "text", "") for i in items if getattr(i, "type", "") == "text") == (
        "ok"
    )


def test_a_retry_after_beyond_the_retry_budget_says_what_the_server_asked_for(openai_env):
    openai_env.expect(
        OPENAI,
        json_reply(429, {"error": {"message": "slow down"}}, headers={"retry-after": "3600"}),
    )
    items, delays = run("openai:gpt-4o-mini", RetryPolicy(max_total_s=60))
    error = final_error(items)
    assert error.kind == "rate_limit" and delays == []
    assert "the server asked to wait 3600 s" in error.message
    assert "60 s" in error.message  # the budget it exceeds


# --------------------------------------------------------------------------- Ollama


@pytest.fixture
def ollama_env(wire_server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", wire_server.url)
    return wire_server


def test_ollama_cannot_reach_only_when_the_connection_fails(monkeypatch):
    with socket_nobody_listens_on() as port:
        monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{port}")
        error = final_error(run("ollama:llama3.2", RetryPolicy(max_attempts=1))[0])
    assert error.kind == "connection" and "cannot reach Ollama" in error.message


def test_ollama_dropping_the_connection_after_the_request_is_said_so(ollama_env):
    ollama_env.expect("/api/chat", Reply(hang_up=True))
    error = final_error(run("ollama:llama3.2", RetryPolicy(max_attempts=1))[0])
    assert error.kind == "connection"
    assert "cannot reach" not in error.message
    assert "closed the connection" in error.message and "before" in error.message


def test_ollama_ndjson_is_its_stream_type(ollama_env):
    body = ndjson(
        {"message": {"role": "assistant", "content": "fine"}, "done": False},
        {"done": True, "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 1},
    )
    ollama_env.expect("/api/chat", Reply(body=body, content_type="application/x-ndjson"))
    items, _ = run("ollama:llama3.2")
    assert [i.text for i in items if getattr(i, "type", "") == "text"] == ["fine"]


def test_ollama_answering_200_with_an_html_page_is_invalid_response(ollama_env):
    ollama_env.expect("/api/chat", Reply(body=b"<html>login</html>", content_type="text/html"))
    error = final_error(run("ollama:llama3.2")[0])
    assert error.kind == "invalid_response" and "text/html" in error.message


class socket_nobody_listens_on:
    """A loopback port that was just free: connecting to it is refused."""

    def __enter__(self) -> int:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        return self.port

    def __exit__(self, *exc: object) -> None:
        pass


# --------------------------------------------------------------------------- proxies


def test_http_proxy_from_the_environment_carries_the_model_call(openai_env, monkeypatch):
    openai_env.expect(OPENAI, Reply(body=text_stream("via ", "proxy")))
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        items, _ = run("openai:gpt-4o-mini")
    text = "".join(i.text for i in items if getattr(i, "type", "") == "text")
    assert text == "via proxy"
    assert proxy.request_lines == [f"POST {openai_env.url}/v1/chat/completions HTTP/1.1"]
    assert openai_env.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_no_proxy_sends_the_call_direct(openai_env, monkeypatch):
    openai_env.expect(OPENAI, Reply(body=text_stream("direct")))
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        items, _ = run("openai:gpt-4o-mini")
    assert [i.text for i in items if getattr(i, "type", "") == "text"] == ["direct"]
    assert proxy.request_lines == []


def test_https_proxy_is_asked_to_connect_to_the_https_host(openai_env, monkeypatch):
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("OPENAI_BASE_URL", "https://127.0.0.1:9/v1")
        error = final_error(run("openai:gpt-4o-mini", RetryPolicy(max_attempts=1))[0])
    assert proxy.request_lines == ["CONNECT 127.0.0.1:9 HTTP/1.1"]
    assert error.kind == "connection" and "proxy" in error.message.lower()
    assert openai_env.requests == []
