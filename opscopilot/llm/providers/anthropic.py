"""Anthropic Messages API streaming.

Translation only: a canonical Request becomes `POST {base_url}/v1/messages` with
`stream: true`; the named SSE events (message_start, content_block_*, message_delta,
message_stop, ping, error) become canonical stream events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opscopilot import redact
from opscopilot.llm.http import drain_after_end, post_stream, sse_events
from opscopilot.llm.providers.base import ProviderSettings, error_from_status
from opscopilot.llm.providers.openai import read_arguments
from opscopilot.llm.types import (
    ErrorKind,
    Finish,
    FinishReason,
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
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
    UsageUpdate,
)
from opscopilot.llm.wire import loads_event

if TYPE_CHECKING:
    import httpx

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

ERROR_KINDS: dict[str, ErrorKind] = {
    "overloaded_error": "overloaded",
    "rate_limit_error": "rate_limit",
    "api_error": "server",
    "timeout_error": "timeout",
    "invalid_request_error": "bad_request",
    "authentication_error": "auth",
    "permission_error": "permission",
    "billing_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "context_length",
}

_CONTEXT_HINTS = ("prompt is too long", "context window", "context length", "too many tokens")


def _kind_for(error_type: str, message: str, fallback: ErrorKind) -> ErrorKind:
    kind = ERROR_KINDS.get(error_type, fallback)
    if kind == "bad_request" and any(h in message.lower() for h in _CONTEXT_HINTS):
        return "context_length"
    return kind


def error_from_anthropic_event(data: Any, provider: str) -> LLMError:
    """The `error` event sent in the middle of a stream."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return LLMError("server", "stream error with no detail", provider=provider)
    message = redact.redact(" ".join(str(error.get("message") or "stream error").split())[:300])
    kind = _kind_for(str(error.get("type") or ""), message, "server")
    return LLMError(kind, f"{error.get('type') or 'error'}: {message}", provider=provider)


def error_from_anthropic_status(status: int, body: bytes, headers: Any, provider: str) -> LLMError:
    """A non-2xx reply: the status mapping, refined by the body's error.type."""
    error = error_from_status(status, body, headers, provider)
    try:
        data = json.loads(body)
    except ValueError:
        return error
    detail = data.get("error") if isinstance(data, dict) else None
    if isinstance(detail, dict) and isinstance(detail.get("type"), str):
        kind = _kind_for(detail["type"], error.message, error.kind)
        if kind != error.kind:
            return LLMError(
                kind, error.message, status=status, retry_after=error.retry_after, provider=provider
            )
    return error


def usage_from_anthropic(raw: dict[str, Any], previous: Usage | None = None) -> Usage:
    """Anthropic's input_tokens excludes cache reads and writes; ours includes them.

    message_delta usage is cumulative and may repeat only some fields: the rest carry over.
    """
    base = previous or Usage()

    def field_or(name: str, default: int) -> int:
        value = raw.get(name)
        return default if value is None else int(value)

    fresh_before = base.input_tokens - base.cache_read_tokens - base.cache_write_tokens
    fresh = field_or("input_tokens", fresh_before)
    cache_write = field_or("cache_creation_input_tokens", base.cache_write_tokens)
    cache_read = field_or("cache_read_input_tokens", base.cache_read_tokens)
    return Usage(
        input_tokens=fresh + cache_write + cache_read,
        output_tokens=field_or("output_tokens", base.output_tokens),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


# --------------------------------------------------------------------------- request


def _image_block(part: ImagePart) -> dict[str, Any]:
    if part.url:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": part.media_type, "data": part.data or ""},
    }


def _blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ThinkingPart):
            # Anthropic only accepts thinking back with the signature it issued.
            if part.signature:
                blocks.append(
                    {"type": "thinking", "thinking": part.text, "signature": part.signature}
                )
        elif isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            blocks.append(_image_block(part))
        elif isinstance(part, ToolCallPart):
            blocks.append(
                {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
            )
        elif isinstance(part, ToolResultPart):
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": part.id,
                "content": part.content,
            }
            if part.is_error:
                block["is_error"] = True
            blocks.append(block)
    return blocks


def messages_to_anthropic(request: Request) -> tuple[str | None, list[dict[str, Any]]]:
    """System text (top level) and alternating user/assistant messages of content blocks."""
    system_texts = [request.system] if request.system else []
    out: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            system_texts.append(message.text)
            continue
        role = "assistant" if message.role == "assistant" else "user"  # tool results go as user
        blocks = _blocks(message)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)  # the API wants roles to alternate
        else:
            out.append({"role": role, "content": blocks})
    for entry in out:
        if entry["role"] == "user":
            # Tool results must lead the user message that answers the tool calls.
            entry["content"].sort(key=lambda b: b["type"] != "tool_result")
    system = "\n\n".join(t for t in system_texts if t) or None
    return system, out


# --------------------------------------------------------------------------- stream


@dataclass(slots=True)
class _Block:
    kind: str
    call_index: int = -1
    id: str = ""
    name: str = ""
    json_parts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _StreamState:
    blocks: dict[int, _Block] = field(default_factory=dict)
    usage: Usage | None = None
    stop_raw: str | None = None
    stopped: bool = False
    call_count: int = 0


class AnthropicProvider:
    """The Anthropic Messages adapter."""

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self._http = http

    def build_payload(self, request: Request) -> dict[str, Any]:
        system, messages = messages_to_anthropic(request)
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        payload: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True}
        if system:
            payload["system"] = system
        if request.thinking_budget:
            budget = request.thinking_budget
            if max_tokens <= budget:
                if request.max_tokens is not None:
                    raise LLMError(
                        "bad_request",
                        f"max_tokens ({max_tokens}) must be larger than "
                        f"the thinking budget ({budget})",
                        provider=self.name,
                    )
                max_tokens = budget + DEFAULT_MAX_TOKENS
            payload["thinking"] = {"type": "enabled", "budget_tokens": budget}
        elif request.temperature is not None:
            payload["temperature"] = request.temperature  # thinking requires the default
        payload["max_tokens"] = max_tokens
        if request.stop:
            payload["stop_sequences"] = request.stop
        if request.tools:
            payload["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        return payload

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if key := self.settings.require_key():
            headers["x-api-key"] = key
        return headers

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        provider = self.name
        payload = self.build_payload(request)
        url = f"{self.settings.base_url}/v1/messages"

        def on_error(status: int, body: bytes, headers: Any) -> LLMError:
            return error_from_anthropic_status(status, body, headers, provider)

        state = _StreamState()
        async with post_stream(
            self._http, self.settings, url, payload, self._headers(), on_error
        ) as response:
            try:
                async with aclosing(sse_events(response, provider)) as sse_stream:
                    async for sse in sse_stream:
                        if not sse.data.strip():
                            continue
                        for event in self._translate(sse.event, sse.data, state):
                            yield event
                        if state.stopped:
                            await drain_after_end(sse_stream)  # keeps the connection pooled
                            break
            except LLMError as exc:
                # The stop reason came, so the content is whole: a hang-up now loses nothing.
                if state.stop_raw is None or exc.kind not in ("connection", "timeout"):
                    raise
        if not state.stopped and state.stop_raw is None:
            raise LLMError(
                "connection",
                "the stream ended before message_stop: the reply is truncated",
                provider=provider,
            )
        reason = STOP_REASONS.get(state.stop_raw or "end_turn", "stop")
        yield Finish("tool_calls" if state.call_count else reason, state.stop_raw)

    def _translate(self, name: str, raw: str, state: _StreamState) -> list[StreamEvent]:
        """One SSE event as canonical events (usually one, often none)."""
        data = loads_event(raw)
        if not isinstance(data, dict):
            raise LLMError(
                "invalid_response",
                f"stream event is not an object: {raw[:80]!r}",
                provider=self.name,
            )
        kind = data.get("type") or name
        if kind == "message_start":
            raw_usage = (data.get("message") or {}).get("usage")
            if raw_usage:
                state.usage = usage_from_anthropic(raw_usage)
                return [UsageUpdate(state.usage)]
        elif kind == "content_block_start":
            return self._block_start(data, state)
        elif kind == "content_block_delta":
            event = self._delta(state.blocks, data)
            return [event] if event is not None else []
        elif kind == "content_block_stop":
            block = state.blocks.get(int(data.get("index", -1)))
            if block is not None and block.call_index >= 0:
                arguments, error = read_arguments("".join(block.json_parts))
                return [ToolCallEnd(block.call_index, block.id, block.name, arguments, error)]
        elif kind == "message_delta":
            state.stop_raw = (data.get("delta") or {}).get("stop_reason") or state.stop_raw
            if raw_usage := data.get("usage"):
                state.usage = usage_from_anthropic(raw_usage, state.usage)
                return [UsageUpdate(state.usage)]
        elif kind == "message_stop":
            state.stopped = True
        elif kind == "error":
            raise error_from_anthropic_event(data, self.name)
        # "ping" and event types added later are ignored, as the API asks.
        return []

    @staticmethod
    def _block_start(data: dict[str, Any], state: _StreamState) -> list[StreamEvent]:
        index = int(data.get("index", len(state.blocks)))
        start = data.get("content_block") or {}
        block_type = str(start.get("type") or "")
        block = state.blocks[index] = _Block(block_type)
        if block_type == "tool_use":
            block.call_index = state.call_count
            state.call_count += 1
            block.id, block.name = str(start.get("id") or ""), str(start.get("name") or "")
            return [ToolCallStart(block.call_index, block.id, block.name)]
        if block_type == "text" and start.get("text"):
            return [TextDelta(str(start["text"]))]
        if block_type == "thinking" and start.get("thinking"):
            return [ThinkingDelta(str(start["thinking"]))]
        return []

    @staticmethod
    def _delta(blocks: dict[int, _Block], data: dict[str, Any]) -> StreamEvent | None:
        delta = data.get("delta") or {}
        delta_type = delta.get("type")
        if delta_type == "text_delta":
            return TextDelta(str(delta.get("text") or "")) if delta.get("text") else None
        if delta_type == "thinking_delta":
            return (
                ThinkingDelta(str(delta.get("thinking") or "")) if delta.get("thinking") else None
            )
        if delta_type == "signature_delta":
            signature = str(delta.get("signature") or "")
            return ThinkingDelta("", signature=signature) if signature else None
        if delta_type == "input_json_delta":
            block = blocks.get(int(data.get("index", -1)))
            fragment = str(delta.get("partial_json") or "")
            if block is None or block.call_index < 0 or not fragment:
                return None
            block.json_parts.append(fragment)
            return ToolCallDelta(block.call_index, fragment)
        return None  # citations_delta and future kinds carry nothing we render
