"""The one place for retries and fallback, above every adapter.

`LLMClient.stream(chain, request)` tries each model of a fallback chain in turn; each
model gets up to `RetryPolicy.max_attempts` tries with capped exponential backoff and full
jitter, honouring a provider's retry-after. Once any output (text, thinking, a tool call)
has reached the consumer nothing is retried: the stream ends with a StreamError and the
caller (the runtime) decides, because the consumer has already shown that output.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from opscopilot import redact
from opscopilot.llm.types import (
    Attempt,
    LLMError,
    ModelSpec,
    Price,
    Request,
    Response,
    ResponseBuilder,
    StreamError,
    StreamEvent,
)

if TYPE_CHECKING:
    import httpx

    from opscopilot.llm.providers.base import Provider

OUTPUT_EVENTS = frozenset(
    {"text", "thinking", "tool_call_start", "tool_call_delta", "tool_call_end"}
)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
ProviderFactory = Callable[[str, "httpx.AsyncClient | None"], "Provider"]


log = logging.getLogger("opscopilot.llm")  # see opscopilot/debuglog.py


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one model before giving up on it (and falling back to the next)."""

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_total_s: float = 60.0
    jitter: Literal["full", "none"] = "full"

    def delay_before_retry(
        self, error: LLMError, attempt: int, elapsed_s: float, rand: float
    ) -> float | None:
        """Seconds to wait before try `attempt + 1`, or None to give up with `error`.

        Full jitter spreads clients that failed together; a provider's retry-after is a
        floor, but a wait that would run past max_total_s is not worth starting.
        """
        if not error.retryable or attempt >= self.max_attempts:
            return None
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        delay = ceiling * rand if self.jitter == "full" else ceiling
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        if elapsed_s + delay > self.max_total_s:
            return None
        return delay


def _past_the_budget(error: LLMError, policy: RetryPolicy, elapsed_s: float) -> LLMError:
    """Say so when a server asked for a wait longer than the retry budget allows."""
    wait = error.retry_after
    if wait is None or not error.retryable or elapsed_s + wait <= policy.max_total_s:
        return error
    error.message += (
        f" (the server asked to wait {wait:.0f} s, beyond the {policy.max_total_s:.0f} s "
        "retry budget)"
    )
    return error


def one_line(error: LLMError, spec: ModelSpec) -> LLMError:
    """The error as one redacted line, attributed to the model's provider."""
    error.message = " ".join(redact.redact(error.message).split()) or error.kind
    if error.provider is None:
        error.provider = spec.provider
    return error


def price_for(spec: ModelSpec) -> tuple[Price | None, bool]:
    """(price, simulated) from the model catalog; (None, False) when the price is unknown.

    A catalog that cannot be read leaves the cost unknown rather than failing a call that
    already happened; `opscopilot models` reports the broken file itself.
    """
    info = catalog_info(spec)
    if info is None or getattr(info, "price", None) is None:
        return None, False
    return info.price, bool(getattr(info, "simulated", False))


def catalog_info(spec: ModelSpec) -> Any:
    """The catalog's ModelInfo for `spec`, or None (unknown model, or no readable catalog)."""
    try:
        from opscopilot.llm import catalog
    except ModuleNotFoundError as exc:
        if exc.name == "opscopilot.llm.catalog":
            return None  # the catalog is not part of this build
        raise
    from opscopilot.config import ConfigError

    try:
        return catalog.lookup(spec)
    except (catalog.CatalogError, ConfigError, LLMError):
        return None


def _open_provider(name: str, http: httpx.AsyncClient | None) -> Provider:
    from opscopilot.config import ConfigError
    from opscopilot.llm.providers import open_provider

    try:
        return open_provider(name, http)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("opscopilot.llm.providers."):
            raise LLMError(
                "not_found", f"provider {name!r} is not available in this build", provider=name
            ) from None
        raise
    except ConfigError as exc:
        raise LLMError("bad_request", str(exc), provider=name) from None


@dataclass
class LLMClient:
    """Retries and fallback over adapters that share one HTTP client.

    `sleep`, `clock` and `rand` are injectable so tests see every delay without waiting.
    """

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    http: httpx.AsyncClient | None = None
    sleep: Sleep | None = None
    clock: Clock = time.monotonic
    rand: Callable[[], float] = random.random
    provider_factory: ProviderFactory = _open_provider
    _providers: dict[str, Provider] = field(default_factory=dict, repr=False)
    _owned_loop: object = field(default=None, repr=False)

    def _http(self) -> httpx.AsyncClient:
        import asyncio

        loop = asyncio.get_running_loop()
        if self.http is not None and self._owned_loop not in (None, loop):
            # Pooled connections belong to the loop that opened them: start a fresh pool.
            self.http, self._owned_loop = None, None
            self._providers.clear()
        if self.http is None:
            from opscopilot.llm.http import new_async_client

            self.http, self._owned_loop = new_async_client(), loop
        return self.http

    def _provider(self, name: str) -> Provider:
        # Kept per client: an adapter may learn a server's quirks (e.g. no stream_options).
        http = self._http()  # first: a new event loop drops the adapters bound to the old pool
        provider = self._providers.get(name)
        if provider is None:
            provider = self._providers[name] = self.provider_factory(name, http)
        return provider

    async def _sleep(self, seconds: float) -> None:
        if self.sleep is not None:
            await self.sleep(seconds)
        else:
            import anyio

            await anyio.sleep(seconds)

    async def aclose(self) -> None:
        if self.http is not None and self._owned_loop is not None:
            await self.http.aclose()
            self.http, self._owned_loop = None, None
        self._providers.clear()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- streaming -------------------------------------------------------------------

    async def stream(
        self, chain: str | Sequence[ModelSpec], request: Request
    ) -> AsyncIterator[StreamEvent | Attempt]:
        """Attempt markers and canonical events; the last event is a Finish or a StreamError.

        `request.model` is replaced by each spec's model. A bad chain raises LLMError
        before anything is yielded; every other failure ends the stream with StreamError.
        """
        specs = ModelSpec.parse_chain(chain) if isinstance(chain, str) else list(chain)
        if not specs:
            raise LLMError("bad_request", "no model given")
        error: LLMError | None = None
        fallback_reason: str | None = None
        for chain_index, spec in enumerate(specs):
            model_request = request.model_copy(update={"model": spec.model})
            started = self.clock()
            attempt, delay, reason = 1, 0.0, fallback_reason
            while True:
                log.debug("%s: try %d (after %.2fs, %s)", spec, attempt, delay, reason or "first")
                yield Attempt(spec.provider, spec.model, attempt, chain_index, delay, reason)
                if delay > 0:
                    await self._sleep(delay)
                output_seen = False
                error = None
                try:
                    events = self._provider(spec.provider).stream(model_request)
                    async with aclosing(events):  # type: ignore[type-var]
                        async for event in events:
                            if event.type == "error":
                                error = event.error  # type: ignore[union-attr]
                                break
                            if event.type in OUTPUT_EVENTS:
                                output_seen = True
                            yield event
                except LLMError as exc:
                    error = exc
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    # A reply shaped unlike the provider's documented format.
                    error = LLMError(
                        "invalid_response",
                        f"unexpected reply shape ({type(exc).__name__}: {exc})",
                        provider=spec.provider,
                    )
                if error is None:
                    return
                error = one_line(error, spec)
                log.debug(
                    "%s: %s error (retryable %s): %s", spec, error.kind, error.retryable, error
                )
                if output_seen:
                    yield StreamError(error)  # never retried: the consumer has shown output
                    return
                next_delay = self.policy.delay_before_retry(
                    error, attempt, self.clock() - started, self.rand()
                )
                if next_delay is None:
                    error = _past_the_budget(error, self.policy, self.clock() - started)
                    break
                attempt, delay, reason = attempt + 1, next_delay, f"{error.kind}: {error}"
            fallback_reason = f"{spec} gave up: {error.kind}: {error}"
        assert error is not None
        yield StreamError(error)

    async def complete(self, chain: str | Sequence[ModelSpec], request: Request) -> Response:
        """The whole call aggregated (the last model tried), priced from the catalog."""
        builder: ResponseBuilder | None = None
        spec: ModelSpec | None = None
        async for item in self.stream(chain, request):
            if item.type == "attempt":
                attempt: Attempt = item  # type: ignore[assignment]
                spec = ModelSpec(provider=attempt.provider, model=attempt.model)
                builder = ResponseBuilder(spec.provider, spec.model)
            elif builder is not None:
                builder.add(item)  # type: ignore[arg-type]
        assert builder is not None and spec is not None
        price, simulated = price_for(spec)
        return builder.build(price=price, simulated=simulated)


_default_client: LLMClient | None = None


def default_client() -> LLMClient:
    """The process's client: one HTTP connection pool shared by every model call."""
    global _default_client
    if _default_client is None:
        _default_client = LLMClient()
    return _default_client
