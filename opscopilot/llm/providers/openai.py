"""OpenAI Chat Completions streaming, and every OpenAI-compatible server (the presets).

Translation only: a canonical Request becomes `POST {base_url}/chat/completions` with
`stream: true`, and `chat.completion.chunk` events become canonical stream events.
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

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

# `error.code` / `error.type` values seen from OpenAI and compatible servers.
ERROR_KINDS: dict[str, ErrorKind] = {
    "rate_limit_exceeded": "rate_limit",
    "rate_limit_error": "rate_limit",
    "insufficient_quota": "rate_limit",
    "server_error": "server",
    "internal_error": "server",
    "internal_server_error": "server",
    "api_error": "server",
    "overloaded": "overloaded",
    "overloaded_error": "overloaded",
    "service_unavailable": "overloaded",
    "context_length_exceeded": "context_length",
    "string_above_max_length": "context_length",
    "invalid_request_error": "bad_request",
    "badrequesterror": "bad_request",
    "invalid_api_key": "auth",
    "authentication_error": "auth",
    "permission_error": "permission",
    "model_not_found": "not_found",
    "not_found_error": "not_found",
    "content_filter": "content_filter",
    "content_policy_violation": "content_filter",
}

# Quota exhaustion comes as 429 but waiting will not refill it.
NOT_RETRYABLE_CODES = frozenset({"insufficient_quota"})


def error_from_openai_object(error: Any, provider: str) -> LLMError:
    """An `error` object sent inside the stream (or a vLLM `object: error` chunk)."""
    if not isinstance(error, dict):
        return LLMError(
            "server", f"stream error: {redact.redact(str(error))[:300]}", provider=provider
        )
    message = " ".join(str(error.get("message") or "stream error").split())[:300]
    code = str(error.get("code") or "").lower()
    error_type = str(error.get("type") or "").lower()
    kind: ErrorKind = ERROR_KINDS.get(code) or ERROR_KINDS.get(error_type) or "server"
    retryable = False if code in NOT_RETRYABLE_CODES else None
    return LLMError(kind, redact.redact(message), retryable=retryable, provider=provider)


def error_from_openai_status(status: int, body: bytes, headers: Any, provider: str) -> LLMError:
    """Map a non-2xx reply, refined by the body's `error.code` where the status is ambiguous."""
    error = error_from_status(status, body, headers, provider)
    try:
        data = json.loads(body)
    except ValueError:
        return error
    detail = data.get("error") if isinstance(data, dict) else None
    if isinstance(detail, dict):
        code = str(detail.get("code") or "").lower()
        if code == "context_length_exceeded":
            error.kind = "context_length"
        elif code in NOT_RETRYABLE_CODES:
            error.retryable = False
    return error


def usage_from_openai(raw: dict[str, Any]) -> Usage:
    """prompt_tokens already counts cached tokens; completion_tokens counts reasoning."""
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    # DeepSeek reports cache hits as a top-level field instead.
    cached = int(prompt_details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or 0)
    reasoning = int(completion_details.get("reasoning_tokens") or 0)
    total = raw.get("total_tokens")
    if reasoning and total == prompt + completion + reasoning:
        completion += reasoning  # a server that counts reasoning outside completion_tokens
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        cache_read_tokens=min(cached, prompt),
        reasoning_tokens=min(reasoning, completion),
    )


def _image_url(part: ImagePart) -> str:
    return part.url or f"data:{part.media_type};base64,{part.data or ''}"


def messages_to_openai(request: Request) -> list[dict[str, Any]]:
    """Canonical messages as Chat Completions messages (thinking is not sent back)."""
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for message in request.messages:
        out.extend(_message_to_openai(message))
    return out


def _message_to_openai(message: Message) -> list[dict[str, Any]]:
    results = [p for p in message.parts if isinstance(p, ToolResultPart)]
    tool_messages = [
        {
            "role": "tool",
            "tool_call_id": r.id,
            "content": f"[error] {r.content}" if r.is_error else r.content,
        }
        for r in results
    ]
    if message.role == "tool":
        return tool_messages
    if message.role == "system":
        return [{"role": "system", "content": message.text}]
    if message.role == "assistant":
        entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
        if calls:
            entry["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in calls
            ]
        return [entry]
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            content.append({"type": "image_url", "image_url": {"url": _image_url(part)}})
    user: list[dict[str, Any]] = []
    if content:
        only_text = all(c["type"] == "text" for c in content)
        user.append({"role": "user", "content": message.text if only_text else content})
    return tool_messages + user


def _reasoning_effort(budget: int) -> str:
    return "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"


@dataclass(slots=True)
class _PendingCall:
    index: int
    id: str
    name: str
    argument_parts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _StreamState:
    calls: dict[int, _PendingCall] = field(default_factory=dict)
    calls_ended: bool = False
    finish_raw: str | None = None
    done: bool = False


class OpenAIProvider:
    """The OpenAI adapter; every OpenAI-compatible preset (vllm, groq, …) is this class too."""

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self._http = http
        # Some compatible servers reject stream_options; learned once per provider instance.
        self._send_stream_options = bool(settings.extra.get("stream_options", True))

    # --- request ---------------------------------------------------------------------

    def build_payload(self, request: Request) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": messages_to_openai(request),
            "stream": True,
        }
        if self._send_stream_options:
            payload["stream_options"] = {"include_usage": True}
        if request.tools:
            payload["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
        if request.max_tokens is not None:
            # OpenAI's own API wants the newer name (reasoning models refuse max_tokens).
            default_field = "max_completion_tokens" if self.name == "openai" else "max_tokens"
            payload[str(self.settings.extra.get("max_tokens_field", default_field))] = (
                request.max_tokens
            )
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.stop:
            payload["stop"] = request.stop
        if request.thinking_budget:
            payload["reasoning_effort"] = _reasoning_effort(request.thinking_budget)
        return payload

    def _headers(self) -> dict[str, str]:
        key = self.settings.require_key()
        return {"authorization": f"Bearer {key}"} if key else {}

    # --- stream ----------------------------------------------------------------------

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        payload = self.build_payload(request)
        headers = self._headers()
        for try_number in (1, 2):
            yielded = False
            try:
                # aclosing: a consumer that stops early must close the HTTP response now.
                async with aclosing(self._stream_payload(payload, headers)) as events:
                    async for event in events:
                        yielded = True
                        yield event
                return
            except LLMError as exc:
                if yielded or try_number == 2 or not self._rejects_stream_options(exc, payload):
                    raise
                payload.pop("stream_options")
                self._send_stream_options = False

    @staticmethod
    def _rejects_stream_options(error: LLMError, payload: dict[str, Any]) -> bool:
        return (
            "stream_options" in payload
            and error.status == 400
            and "stream_options" in error.message.lower()
        )

    async def _stream_payload(
        self, payload: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[StreamEvent]:
        provider = self.name
        url = f"{self.settings.base_url}/chat/completions"

        def on_error(status: int, body: bytes, response_headers: Any) -> LLMError:
            return error_from_openai_status(status, body, response_headers, provider)

        state = _StreamState()
        async with post_stream(
            self._http, self.settings, url, payload, headers, on_error
        ) as response:
            try:
                async with aclosing(sse_events(response, provider)) as sse_stream:
                    async for sse in sse_stream:
                        data = sse.data.strip()
                        if data == "[DONE]":
                            state.done = True
                            await drain_after_end(sse_stream)  # keeps the connection pooled
                            break
                        if data:
                            for event in self._translate(data, state):
                                yield event
            except LLMError as exc:
                # A server that hangs up after its last chunk lost nothing we need.
                if state.finish_raw is None or exc.kind not in ("connection", "timeout"):
                    raise
        if not state.done and state.finish_raw is None:
            raise LLMError(
                "connection",
                "the stream ended early (no finish_reason and no [DONE]): the reply is truncated",
                provider=provider,
            )
        if not state.calls_ended:
            for event in self._end_calls(state.calls):
                yield event
        reason: FinishReason = FINISH_REASONS.get(state.finish_raw or "stop", "stop")
        yield Finish("tool_calls" if state.calls else reason, state.finish_raw)

    def _translate(self, data: str, state: _StreamState) -> list[StreamEvent]:
        """One chat.completion.chunk as canonical events."""
        chunk = loads_event(data)
        if not isinstance(chunk, dict):
            raise LLMError(
                "invalid_response",
                f"stream chunk is not an object: {data[:80]!r}",
                provider=self.name,
            )
        if chunk.get("error"):
            raise error_from_openai_object(chunk["error"], self.name)
        if chunk.get("object") == "error":
            raise error_from_openai_object(chunk, self.name)
        events: list[StreamEvent] = []
        if usage := chunk.get("usage"):
            events.append(UsageUpdate(usage_from_openai(usage)))
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # we never ask for n > 1
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ThinkingDelta(reasoning))
            for field_name in ("content", "refusal"):
                text = delta.get(field_name)
                if isinstance(text, str) and text:
                    events.append(TextDelta(text))
            for raw_call in delta.get("tool_calls") or ():
                events += self._tool_call_delta(raw_call, state.calls)
            if choice.get("finish_reason"):
                state.finish_raw = str(choice["finish_reason"])
                if not state.calls_ended:
                    # Calls are whole once the finish comes; the usage chunk may follow.
                    state.calls_ended = True
                    events += self._end_calls(state.calls)
        return events

    def _tool_call_delta(
        self, raw: dict[str, Any], calls: dict[int, _PendingCall]
    ) -> list[StreamEvent]:
        function = raw.get("function") or {}
        call_id = raw.get("id")
        index = raw.get("index")
        if not isinstance(index, int):
            # Some servers omit the index: match by id, else a new id is a new call.
            known = [c.index for c in calls.values() if call_id and c.id == call_id]
            index = known[0] if known else (len(calls) if call_id or not calls else max(calls))
        events: list[StreamEvent] = []
        pending = calls.get(index)
        if pending is None:
            name = function.get("name")
            if not name:
                raise LLMError(
                    "invalid_response",
                    f"tool call #{index} arrived without a function name",
                    provider=self.name,
                )
            pending = calls[index] = _PendingCall(index, call_id or f"call_{index}", name)
            events.append(ToolCallStart(index, pending.id, pending.name))
        fragment = function.get("arguments")
        if isinstance(fragment, str) and fragment:
            pending.argument_parts.append(fragment)
            events.append(ToolCallDelta(index, fragment))
        elif isinstance(fragment, dict):  # a few servers send the parsed object whole
            text = json.dumps(fragment)
            pending.argument_parts.append(text)
            events.append(ToolCallDelta(index, text))
        return events

    def _end_calls(self, calls: dict[int, _PendingCall]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for index in sorted(calls):
            call = calls[index]
            arguments, error = read_arguments("".join(call.argument_parts))
            events.append(ToolCallEnd(index, call.id, call.name, arguments, error))
        return events


def read_arguments(text: str | Any) -> tuple[dict[str, Any], str | None]:
    """A tool call's arguments (streamed JSON text, or an object) as a dict, or ({}, why not).

    Unreadable arguments are the model's mistake, not a broken response: the agent hands the
    reason back to the model as the call's result so it can send the call again.
    """
    if isinstance(text, dict):
        return text, None
    if not isinstance(text, str):
        return {}, "the arguments are not a JSON object"
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        excerpt = redact.redact(text[:80])
        return (
            {},
            f"the arguments are not valid JSON ({exc.msg} at column {exc.colno}): {excerpt!r}",
        )
    if not isinstance(value, dict):
        return {}, "the arguments are not a JSON object"
    return value, None
