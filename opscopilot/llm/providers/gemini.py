"""Google Gemini adapter over `models/{model}:streamGenerateContent?alt=sse`.

The key travels in the `x-goog-api-key` header, never in the URL, so it cannot leak into a
log line or an error that quotes the URL. Each SSE event is a whole GenerateContentResponse;
Gemini sends function calls whole (no argument deltas) and usually without ids, so ids are
synthesised as `call_<n>`, numbered after the calls already in the conversation so they stay
unique within a session and deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from opscopilot.llm.http import post_stream, sse_events
from opscopilot.llm.providers.base import ProviderSettings, error_from_status
from opscopilot.llm.providers.gemini_request import build_body
from opscopilot.llm.types import (
    ErrorKind,
    Finish,
    FinishReason,
    LLMError,
    Request,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from opscopilot.llm.wire import loads_event

if TYPE_CHECKING:
    import httpx

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "content_filter",
}

# google.rpc status strings -> our kinds (they refine the HTTP status mapping).
_STATUS_KINDS: dict[str, ErrorKind] = {
    "RESOURCE_EXHAUSTED": "rate_limit",
    "UNAVAILABLE": "overloaded",
    "INTERNAL": "server",
    "UNKNOWN": "server",
    "DEADLINE_EXCEEDED": "timeout",
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "permission",
    "NOT_FOUND": "not_found",
    "CANCELLED": "cancelled",
}


class GeminiProvider:
    """Streams canonical events from Gemini's generative language API."""

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self._http = http

    def endpoint(self, model: str) -> str:
        model = model.removeprefix("models/")
        return f"{self.settings.base_url}/v1beta/models/{model}:streamGenerateContent"

    async def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        key = self.settings.require_key()
        headers = {"x-goog-api-key": key} if key else {}
        first_call = sum(len(m.tool_calls) for m in request.messages)
        decoder = GeminiStreamDecoder(self.name, first_call_number=first_call)

        def on_error(status: int, body: bytes, reply_headers: Any) -> LLMError:
            return gemini_error(status, body, reply_headers, self.name)

        url = self.endpoint(request.model) + "?alt=sse"
        async with post_stream(
            self._http, self.settings, url, build_body(request), headers, on_error
        ) as response:
            async for event in sse_events(response, self.name):
                for out in decoder.feed(loads_event(event.data)):
                    yield out
        for out in decoder.finish():
            yield out


class GeminiStreamDecoder:
    """Folds GenerateContentResponse chunks into canonical stream events."""

    def __init__(self, provider: str, *, first_call_number: int = 0) -> None:
        self.provider = provider
        self.first_call_number = first_call_number
        self.calls = 0
        self.finish_raw: str | None = None
        self.usage: Usage | None = None

    def feed(self, chunk: Any) -> list[StreamEvent]:
        if isinstance(chunk, list):  # the JSON-array framing, when alt=sse is not honoured
            return [event for item in chunk for event in self.feed(item)]
        if not isinstance(chunk, dict):
            raise LLMError(
                "invalid_response", "stream event is not a JSON object", provider=self.provider
            )
        if "error" in chunk:
            raise gemini_error(None, json.dumps(chunk), None, self.provider)
        block = (chunk.get("promptFeedback") or {}).get("blockReason")
        if block:
            raise LLMError(
                "content_filter", f"Gemini blocked the prompt ({block})", provider=self.provider
            )
        events: list[StreamEvent] = []
        candidates = chunk.get("candidates") or []
        if candidates:
            candidate = candidates[0]
            for part in (candidate.get("content") or {}).get("parts") or []:
                events.extend(self._part(part))
            if candidate.get("finishReason"):
                self.finish_raw = str(candidate["finishReason"])
        metadata = chunk.get("usageMetadata")
        if isinstance(metadata, dict):
            usage = usage_from_metadata(metadata)
            if usage != self.usage:
                self.usage = usage
                events.append(UsageUpdate(usage))
        return events

    def finish(self) -> list[StreamEvent]:
        """The closing Finish; a stream that ended without a finishReason was cut off."""
        if self.finish_raw is None:
            raise LLMError(
                "connection",
                "the stream ended before Gemini sent a finishReason",
                provider=self.provider,
            )
        if self.finish_raw == "MALFORMED_FUNCTION_CALL":
            raise LLMError(
                "invalid_response",
                "Gemini produced a malformed function call",
                provider=self.provider,
            )
        reason = _FINISH.get(self.finish_raw, "stop")
        if self.calls and reason == "stop":
            reason = "tool_calls"
        return [Finish(reason, self.finish_raw)]

    def _part(self, part: dict[str, Any]) -> list[StreamEvent]:
        signature = part.get("thoughtSignature")
        if part.get("thought"):
            return [ThinkingDelta(str(part.get("text") or ""), signature)]
        events: list[StreamEvent] = []
        if signature:  # a signature riding on a text or call part still belongs to thinking
            events.append(ThinkingDelta("", signature))
        if part.get("text"):
            events.append(TextDelta(str(part["text"])))
        call = part.get("functionCall")
        if isinstance(call, dict):
            args = call.get("args") or {}
            if not isinstance(args, dict) or not call.get("name"):
                raise LLMError(
                    "invalid_response",
                    "functionCall without a name or object args",
                    provider=self.provider,
                )
            index = self.calls
            self.calls += 1
            call_id = str(call.get("id") or f"call_{self.first_call_number + index}")
            name = str(call["name"])
            events += [
                ToolCallStart(index, call_id, name),
                ToolCallDelta(index, json.dumps(args, ensure_ascii=False)),
                ToolCallEnd(index, call_id, name, args),
            ]
        return events


def usage_from_metadata(metadata: dict[str, Any]) -> Usage:
    """usageMetadata -> Usage: thoughts are billed as output and reported as reasoning."""
    thoughts = int(metadata.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(metadata.get("promptTokenCount") or 0),
        cache_read_tokens=int(metadata.get("cachedContentTokenCount") or 0),
        output_tokens=int(metadata.get("candidatesTokenCount") or 0) + thoughts,
        reasoning_tokens=thoughts,
    )


def gemini_error(status: int | None, body: bytes | str, headers: Any, provider: str) -> LLMError:
    """An error reply (HTTP or in-stream) -> LLMError, refined by Gemini's status string."""
    detail = _error_object(body)
    if status is None:
        code = detail.get("code")
        status = code if isinstance(code, int) and code >= 400 else 500
    base = error_from_status(status, body, headers, provider)
    kind: ErrorKind = _STATUS_KINDS.get(str(detail.get("status", "")), base.kind)
    message = str(detail.get("message", ""))
    reasons = [d.get("reason") for d in detail.get("details") or [] if isinstance(d, dict)]
    if "API_KEY_INVALID" in reasons or "API key not valid" in message:
        kind = "auth"  # Gemini answers a bad key with 400 INVALID_ARGUMENT
    elif kind == "bad_request" and base.kind == "context_length":
        kind = "context_length"
    retry_after = base.retry_after
    if retry_after is None:
        retry_after = _retry_delay(detail)
    return LLMError(kind, base.message, status=status, retry_after=retry_after, provider=provider)


def _error_object(body: bytes | str) -> dict[str, Any]:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_delay(detail: dict[str, Any]) -> float | None:
    """google.rpc.RetryInfo's retryDelay ("32s", "1.5s") in the error details."""
    for item in detail.get("details") or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None
