"""A loopback model that works incident tickets, over OpenAI's Chat Completions wire format.

For a ticket's first call it asks for `tail_log` of the ticket's first attached file (the
prompt lists them as absolute paths); once that tool's result is in the conversation it
answers with the ticket's id and the last line of the evidence. Every reply is a pure
function of the request, so a batch's report is the same however its tickets are spread
over workers, killed and resumed. `latency_s` holds every reply back that long before its
first byte (a fixed-latency model server, for throughput benchmarks).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from tests.support.wire_server import RecordedRequest, Reply, WireServer, sse

CHAT_PATH = "/v1/chat/completions"
MODEL = "openai:gpt-4o-mini"
KEY = "sk-test-ticket-model-0123456789"
_TICKET = re.compile(r"Incident ticket (\S+)")
_ATTACHMENT = re.compile(r"^- (/\S+)$", re.MULTILINE)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-ticket",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-ticket",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def reply_for(request: RecordedRequest) -> Reply:
    """The model's answer to one request (see the module doc)."""
    messages = request.json()["messages"]
    prompt = next(_text(m.get("content")) for m in messages if m.get("role") == "user")
    ticket = (_TICKET.search(prompt) or re.search(r"(\S+)", prompt)).group(1)  # type: ignore[union-attr]
    results = [_text(m.get("content")) for m in messages if m.get("role") == "tool"]
    attachments = _ATTACHMENT.findall(prompt)
    if not results and attachments:
        arguments = json.dumps({"path": attachments[0], "lines": 20})
        call = {"index": 0, "id": f"call_{ticket}", "type": "function"}
        events: list[Any] = [
            _chunk({"role": "assistant", "content": ""}),
            _chunk({"tool_calls": [{**call, "function": {"name": "tail_log", "arguments": ""}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}),
            _chunk({}, "tool_calls"),
            _usage(len(prompt) // 4, 30),
            "[DONE]",
        ]
        return Reply(body=sse(*events))
    evidence = [line.strip() for line in (results[-1] if results else "").splitlines()]
    last = next((line for line in reversed(evidence) if line), "no evidence attached")
    words = f"{ticket}: checked the evidence; it ends with {last[:120]}".split(" ")
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": w + " "}) for w in words[:-1]] + [_chunk({"content": words[-1]})]
    events += [_chunk({}, "stop"), _usage(len(prompt) // 4 + 60, len(words)), "[DONE]"]
    return Reply(body=sse(*events))


def serve_tickets(server: WireServer, latency_s: float = 0.0) -> None:
    """Make `server` the ticket model (every reply `latency_s` late)."""

    def answer(request: RecordedRequest) -> Reply:
        if latency_s:
            time.sleep(latency_s)  # the model "thinking": a fixed latency, on the server's side
        return reply_for(request)

    server.handle(CHAT_PATH, answer)


def model_env(server: WireServer) -> dict[str, str]:
    """What a worker process needs to reach the ticket model."""
    return {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": f"{server.url}/v1",
        "OPSCOPILOT_MODEL": MODEL,
    }
