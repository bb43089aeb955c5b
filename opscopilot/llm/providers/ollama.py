"""Ollama adapter over the native `POST /api/chat` NDJSON stream.

Ollama needs no key (one is sent as a Bearer token when configured, for an Ollama behind
an authenticating proxy). Tool calls arrive whole, with arguments as an object and usually
without ids, so ids are synthesised as `call_<n>` after the calls already in the
conversation. The final `done: true` line carries the token counts and the stop reason.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from opscopilot import redact
from opscopilot.llm.http import post_stream
from opscopilot.llm.providers.base import _CONTEXT_HINTS, ConnectFailed, ProviderSettings
from opscopilot.llm.providers.openai import read_arguments
from opscopilot.llm.types import (
    Finish,
    ImagePart,
    LLMError,
    Message,
    Request,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolResultPart,
    Usage,
    UsageUpdate,
)
from opscopilot.llm.wire import NDJSONDecoder

if TYPE_CHECKING:
    import httpx


class OllamaProvider:
    """Streams canonical events from a local (or remote) Ollama server."""

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self._http = http

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        headers = {"accept": "application/x-ndjson"}
        if self.settings.api_key:
            headers["authorization"] = f"Bearer {self.settings.api_key}"
        first_call = sum(len(m.tool_calls) for m in request.messages)
        decoder = OllamaStreamDecoder(self.name, first_call_number=first_call)
        url = f"{self.settings.base_url}/api/chat"
        try:
            async with post_stream(
                self._http,
                self.settings,
                url,
                build_body(request),
                headers,
                stream_types=("application/x-ndjson", "application/json", "text/event-stream"),
            ) as response:
                lines = NDJSONDecoder()
                async for chunk in response.aiter_raw():
                    for line in lines.feed(chunk):
                        for event in decoder.feed(line):
                            yield event
                for line in lines.close():
                    for event in decoder.feed(line):
                        yield event
        except ConnectFailed as exc:  # only when no connection was made
            if exc.message.startswith("connection failed"):
                raise LLMError(
                    "connection",
                    f"cannot reach Ollama at {self.settings.base_url} (is `ollama serve` "
                    "running? set OLLAMA_HOST if it listens elsewhere)",
                    provider=self.name,
                ) from exc
            raise
        for event in decoder.finish():
            yield event


def build_body(request: Request) -> dict[str, Any]:
    """The JSON body of one streamed /api/chat call."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": build_messages(request),
        "stream": True,
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
    options: dict[str, Any] = {}
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.stop:
        options["stop"] = list(request.stop)
    if options:
        body["options"] = options
    if request.thinking_budget is not None:
        body["think"] = request.thinking_budget > 0  # Ollama takes on/off, not a budget
    return body


def build_messages(request: Request) -> list[dict[str, Any]]:
    """Canonical messages -> Ollama chat messages (one message per tool result)."""
    call_names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for message in request.messages:
        if message.role == "tool":
            for part in message.parts:
                if isinstance(part, ToolResultPart):
                    entry = {"role": "tool", "content": part.content}
                    name = part.name or call_names.get(part.id)
                    if name:
                        entry["tool_name"] = name
                    out.append(entry)
            continue
        out.append(_message(message, call_names))
    return out


def _message(message: Message, call_names: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": message.role, "content": message.text}
    thinking = "".join(p.text for p in message.parts if isinstance(p, ThinkingPart))
    if thinking and message.role == "assistant":
        entry["thinking"] = thinking
    images = [p.data for p in message.parts if isinstance(p, ImagePart) and p.data]
    if images:
        entry["images"] = images
    if message.tool_calls:
        entry["tool_calls"] = []
        for call in message.tool_calls:
            call_names[call.id] = call.name
            entry["tool_calls"].append(
                {"function": {"name": call.name, "arguments": call.arguments}}
            )
    # A user turn that carries tool results (some callers do this) becomes text for Ollama.
    extra = [p.content for p in message.parts if isinstance(p, ToolResultPart)]
    if extra and not any(isinstance(p, TextPart) for p in message.parts):
        entry["content"] = "\n\n".join(extra)
    return entry


class OllamaStreamDecoder:
    """Folds /api/chat NDJSON objects into canonical stream events."""

    def __init__(self, provider: str, *, first_call_number: int = 0) -> None:
        self.provider = provider
        self.first_call_number = first_call_number
        self.calls = 0
        self.done = False
        self.done_reason: str | None = None

    def feed(self, line: Any) -> list[StreamEvent]:
        if not isinstance(line, dict):
            raise LLMError(
                "invalid_response", "stream line is not a JSON object", provider=self.provider
            )
        if "error" in line:
            raise _stream_error(line["error"], self.provider)
        events: list[StreamEvent] = []
        message = line.get("message") or {}
        if message.get("thinking"):
            events.append(ThinkingDelta(str(message["thinking"])))
        if message.get("content"):
            events.append(TextDelta(str(message["content"])))
        for call in message.get("tool_calls") or []:
            events.extend(self._tool_call(call))
        if line.get("done"):
            self.done = True
            self.done_reason = str(line.get("done_reason") or "stop")
            events.append(
                UsageUpdate(
                    Usage(
                        input_tokens=int(line.get("prompt_eval_count") or 0),
                        output_tokens=int(line.get("eval_count") or 0),
                    )
                )
            )
        return events

    def finish(self) -> list[StreamEvent]:
        """The closing Finish; a stream without its `done: true` line was cut off."""
        if not self.done:
            raise LLMError(
                "connection",
                "the stream ended before Ollama sent done: true",
                provider=self.provider,
            )
        if self.calls:
            return [Finish("tool_calls", self.done_reason)]
        return [Finish("length" if self.done_reason == "length" else "stop", self.done_reason)]

    def _tool_call(self, call: Any) -> list[StreamEvent]:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise LLMError(
                "invalid_response", "tool call without a function name", provider=self.provider
            )
        # Some model templates emit a JSON string; unreadable ones go back to the model.
        arguments, error = read_arguments(function.get("arguments") or {})
        index = self.calls
        self.calls += 1
        call_id = str(call.get("id") or f"call_{self.first_call_number + index}")
        name = str(function["name"])
        return [
            ToolCallStart(index, call_id, name),
            ToolCallDelta(index, json.dumps(arguments, ensure_ascii=False)),
            ToolCallEnd(index, call_id, name, arguments, error),
        ]


def _stream_error(error: Any, provider: str) -> LLMError:
    """An `{"error": "..."}` line in the middle of a stream (the model crashed or ran out)."""
    message = error.get("message") if isinstance(error, dict) else error
    text = redact.redact(" ".join(str(message).split())[:300]) or "unknown error"
    lowered = text.lower()
    if any(hint in lowered for hint in _CONTEXT_HINTS):
        return LLMError("context_length", text, provider=provider)
    if "not found" in lowered:
        return LLMError("not_found", text, provider=provider)
    return LLMError("server", text, provider=provider)
