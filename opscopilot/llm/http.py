"""The HTTP plumbing adapters share: one lazily built client, and a streamed POST that maps errors.

Loading the certificate store costs ~90 ms, which a call to a local server (vLLM, Ollama,
the loopback test server) should never pay; `LazyTransport` builds the TLS side only when
the first https request goes out. httpx is imported without its command-line client and
httpcore without HTTP/2 (see `without_modules`): `prompt` sends its request sooner.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from opscopilot.llm.providers.base import (
    ProviderSettings,
    error_from_httpx,
    error_from_status,
    read_error_body,
)
from opscopilot.llm.types import LLMError
from opscopilot.llm.wire import SSEDecoder, SSEEvent


@contextmanager
def without_modules(*names: str) -> Iterator[None]:
    """Make importing `names` fail inside the block, for optional parts a library skips when
    they are missing; loaded already, they stay, and afterwards anyone may import them."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` fails fast
    try:
        yield
    finally:
        for name in hidden:
            del sys.modules[name]


# httpx's command-line client (rich, pygments: ~30 ms) is an optional part: without it
# `httpx.main` is a stub that asks for `httpx[cli]`; opscopilot never runs it.
with without_modules("httpx._main"):
    import httpx

ErrorMapper = Callable[[int, bytes, httpx.Headers], LLMError]


class LazyTransport(httpx.AsyncBaseTransport):
    """Routes plain http and https to two pooled transports, each built on first use."""

    def __init__(self) -> None:
        self._plain: httpx.AsyncHTTPTransport | None = None
        self._tls: httpx.AsyncHTTPTransport | None = None

    def _transport_for(self, scheme: str) -> httpx.AsyncHTTPTransport:
        if scheme == "https":
            if self._tls is None:
                self._tls = _transport()
            return self._tls
        if self._plain is None:
            # Plain http never does a TLS handshake, so no certificate store is needed.
            self._plain = _transport(verify=False)
        return self._plain

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport_for(request.url.scheme).handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._plain, self._tls):
            if transport is not None:
                await transport.aclose()


def _transport(**options: Any) -> httpx.AsyncHTTPTransport:
    """A pooled HTTP/1.1 transport. The first one imports httpcore, without h2 (~10 ms):
    httpcore's HTTP/2 is optional and only used when asked for, which we never do."""
    with without_modules("h2"):
        return httpx.AsyncHTTPTransport(**options)


class LazyProxyTransport(httpx.AsyncBaseTransport):
    """A transport through one proxy, built on first use (the https side loads certificates)."""

    def __init__(self, proxy: str) -> None:
        self.proxy = proxy
        self._transport: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            self._transport = _transport(proxy=self.proxy)
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


def proxy_mounts() -> dict[str, httpx.AsyncBaseTransport | None]:
    """HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY read exactly as httpx reads them.

    httpx ignores the environment once a client is given its own transport (as ours is), so
    the same mounts are built here; a NO_PROXY host maps to None (the direct transport).
    """
    from httpx._utils import get_environment_proxies  # the function httpx itself uses

    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for pattern, proxy in get_environment_proxies().items():
        if proxy is None:
            mounts[pattern] = None
        else:
            url = proxy if "://" in proxy else f"http://{proxy}"
            mounts[pattern] = LazyProxyTransport(url)
    return mounts


def new_async_client() -> httpx.AsyncClient:
    """A client for model calls; per-request timeouts come from each provider's settings.

    Proxies come from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY); tools'
    probes (`http_check`) use their own client that never does.
    """
    return httpx.AsyncClient(
        transport=LazyTransport(),
        mounts=proxy_mounts(),
        timeout=httpx.Timeout(600.0, connect=10.0),
    )


STREAM_TYPES = ("text/event-stream",)


def timeout_for(settings: ProviderSettings) -> httpx.Timeout:
    return httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)


def default_error_mapper(provider: str) -> ErrorMapper:
    def mapper(status: int, body: bytes, headers: httpx.Headers) -> LLMError:
        return error_from_status(status, body, headers, provider)

    return mapper


@asynccontextmanager
async def post_stream(
    http: httpx.AsyncClient | None,
    settings: ProviderSettings,
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    on_error: ErrorMapper | None = None,
    stream_types: tuple[str, ...] = STREAM_TYPES,
) -> AsyncIterator[httpx.Response]:
    """POST `payload` as JSON and yield the streaming response; any failure is an LLMError.

    Transport errors raised while the caller reads the body are mapped here too, so an
    adapter only ever sees LLMError. Without a shared client, one is made and closed.
    A success whose content type is not one of `stream_types` (a JSON error document, a
    proxy's HTML page) is `invalid_response`, not retried: the same server says the same.
    """
    client = http if http is not None else new_async_client()
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    all_headers = {
        "content-type": "application/json",
        "accept": "text/event-stream",
        # aiter_raw() hands us the bytes as sent: ask for them uncompressed.
        "accept-encoding": "identity",
        **settings.headers,
        **headers,
    }
    mapper = on_error or default_error_mapper(settings.name)
    answered = False
    try:
        async with client.stream(
            "POST", url, content=body, headers=all_headers, timeout=timeout_for(settings)
        ) as response:
            answered = True
            if response.status_code >= 400:
                error_body = await read_error_body(response)
                raise mapper(response.status_code, error_body, response.headers)
            content_type = response.headers.get("content-type", "")
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type and media_type not in stream_types:
                raise await _not_a_stream(response, content_type, stream_types, settings.name)
            yield response
    except httpx.HTTPError as exc:
        raise error_from_httpx(exc, settings.name, answered=answered) from None
    finally:
        if http is None:
            await client.aclose()


async def _not_a_stream(
    response: httpx.Response, content_type: str, stream_types: tuple[str, ...], provider: str
) -> LLMError:
    from opscopilot import redact
    from opscopilot.llm.providers.base import error_message_from_body

    snippet = redact.redact(error_message_from_body(await read_error_body(response, 4096)))
    said = f": {snippet[:200]}" if snippet else ""
    return LLMError(
        "invalid_response",
        f"HTTP {response.status_code} with content type {content_type}, not a stream "
        f"({' or '.join(stream_types)}){said}",
        retryable=False,
        status=response.status_code,
        provider=provider,
    )


async def sse_events(response: httpx.Response, provider: str) -> AsyncIterator[SSEEvent]:
    """Decode the response body as Server-Sent Events as the bytes arrive; transport
    failures come out as LLMError so an adapter can judge them against what it already has."""
    decoder = SSEDecoder()
    try:
        async for chunk in response.aiter_raw():
            for event in decoder.feed(chunk):
                yield event
    except httpx.HTTPError as exc:
        raise error_from_httpx(exc, provider) from None


DRAIN_TIMEOUT_S = 0.1


async def drain_after_end(events: AsyncIterator[Any], timeout_s: float = DRAIN_TIMEOUT_S) -> None:
    """Read what follows a stream's last event (normally just the end of the chunked body).

    Leaving a response half-read makes httpx close its connection, so every call would pay a
    new TCP (and TLS) handshake; read to the end, the connection goes back to the pool. A
    server that keeps the body open is left after `timeout_s`; a hang-up then loses nothing.
    """
    import anyio

    with anyio.move_on_after(timeout_s):
        try:
            async for _ in events:
                pass
        except LLMError:
            pass
