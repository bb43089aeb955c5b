"""What every adapter is, how it is configured, and the HTTP error mapping they share.

An adapter is translation only (DESIGN.md): canonical Request in, canonical stream events
out. It raises `LLMError` for anything that goes wrong, before or during the stream.
Retries, fallback, budgets and queueing live above, in `opscopilot.llm.client` and
`opscopilot.governance`, once for all providers.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from opscopilot import redact
from opscopilot.llm.types import ErrorKind, LLMError, Request, StreamEvent

if TYPE_CHECKING:
    import httpx


class Provider(Protocol):
    """An adapter bound to one provider's settings."""

    name: str

    def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        """Yield canonical events; the last one is a Finish. Raise LLMError on failure."""
        ...


@dataclass(frozen=True)
class ProviderSettings:
    """How to reach one provider. `api_key` is never printed (repr=False) nor stored."""

    name: str  # as written in a model spec: openai, groq, anthropic, …
    adapter: str  # openai | anthropic | gemini | ollama | builtin
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    key_vars: tuple[str, ...] = ()
    key_required: bool = True
    timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def require_key(self) -> str:
        if self.api_key:
            return self.api_key
        if not self.key_required:
            return ""
        where = " or ".join(self.key_vars) if self.key_vars else "a key"
        raise LLMError(
            "auth",
            f"no API key: set {where}, or api_key under [providers.{self.name}] in config.toml",
            provider=self.name,
        )


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """`retry-after-ms`, `retry-after` (seconds or an HTTP date), in seconds; None if absent."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(when - (time.time() if now is None else now), 0.0)


_CONTEXT_HINTS = (
    "context length",
    "context_length",
    "maximum context",
    "too many tokens",
    "prompt is too long",
    "context window",
    "exceeds the maximum",
)


def error_message_from_body(body: bytes | str) -> str:
    """The human part of a provider's error body (OpenAI/Anthropic/Gemini/Ollama shapes)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or json.dumps(error)[:300]
            return " ".join(str(message).split())[:300]
        if isinstance(error, str):
            return " ".join(error.split())[:300]
    return " ".join(text.split())[:300]


def error_from_status(status: int, body: bytes | str, headers: Any, provider: str) -> LLMError:
    """Map an HTTP error status and body to an LLMError (adapters refine with their own codes)."""
    message = redact.redact(error_message_from_body(body)) or f"HTTP {status}"
    lowered = message.lower()
    kind: ErrorKind
    if status == 400 or status == 422:
        kind = "context_length" if any(h in lowered for h in _CONTEXT_HINTS) else "bad_request"
    elif status == 401:
        kind = "auth"
    elif status == 403:
        kind = "permission"
    elif status == 404:
        kind = "not_found"
    elif status == 408:
        kind = "timeout"
    elif status == 413:
        kind = "context_length"
    elif status == 429:
        kind = "rate_limit"
    elif status in (503, 529):
        kind = "overloaded"
    elif status >= 500:
        kind = "server"
    else:
        kind = "bad_request"
    return LLMError(
        kind,
        f"HTTP {status}: {message}",
        status=status,
        retry_after=retry_after_seconds(headers),
        provider=provider,
    )


class ConnectFailed(LLMError):
    """No connection was made (refused, no route, name not found, the proxy said no):
    the request never reached the server."""


def error_from_httpx(exc: Exception, provider: str, *, answered: bool = True) -> LLMError:
    """Transport failures: timeouts, refused connections, a peer that hung up mid-body.

    `answered` says whether the response's status line had arrived: a hang-up before it
    means the server took the request and dropped it, which is not "cannot connect".
    """
    import httpx

    detail = redact.redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.ProxyError):
        return ConnectFailed("connection", f"the proxy refused: {detail}", provider=provider)
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectFailed("timeout", "timed out connecting (ConnectTimeout)", provider=provider)
    if isinstance(exc, httpx.TimeoutException):
        return LLMError("timeout", f"timed out ({type(exc).__name__})", provider=provider)
    if isinstance(exc, httpx.ConnectError):
        return ConnectFailed("connection", f"connection failed: {detail}", provider=provider)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError) and not answered:
        return LLMError(
            "connection",
            "the server closed the connection after the request, before it answered",
            provider=provider,
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return LLMError(
            "connection", "the connection closed before the stream ended", provider=provider
        )
    return LLMError("connection", f"connection failed: {detail}", provider=provider)


def env_first(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


async def read_error_body(response: httpx.Response, limit: int = 65536) -> bytes:
    """Read at most `limit` bytes of an error reply (a hostile server may send forever)."""
    body = b""
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) >= limit:
            break
    return body[:limit]
