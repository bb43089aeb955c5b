"""Putting the llm client's adapters under the governor, for `prompt` and the runtime.

`LLMClient` builds adapters through a `provider_factory`; `governed_factory` wraps each
adapter so that every attempt (each retry and each fallback model is one model call)
passes the preflight check, a scheduler slot, the stream guard and the ledger. Retries
and fallback stay in the client; budgets and the queue stay here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from opscopilot.governance.governor import Governor
from opscopilot.governance.scheduler import Priority
from opscopilot.llm.types import ModelSpec, Request, StreamEvent

if TYPE_CHECKING:
    import httpx

    from opscopilot.llm.client import LLMClient
    from opscopilot.llm.providers.base import Provider

ProviderFactory = Callable[[str, "httpx.AsyncClient | None"], "Provider"]


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:16]


class GovernedProvider:
    """An adapter whose every stream is governed; the same Provider protocol as the adapter."""

    def __init__(
        self,
        inner: Provider,
        governor: Governor,
        *,
        session_id: str | None = None,
        turn_id: str | None = None,
        priority: Priority = "interactive",
        call_ids: Callable[[], str] = new_call_id,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.governor = governor
        self.session_id = session_id
        self.turn_id = turn_id
        self.priority = priority
        self.call_ids = call_ids

    def stream(self, request: Request) -> AsyncIterator[StreamEvent]:
        from opscopilot.llm.client import price_for

        spec = ModelSpec(provider=self.name, model=request.model)
        price, _simulated = price_for(spec)
        return self.governor.stream(
            self.inner.stream,
            request,
            provider=self.name,
            price=price,
            call_id=self.call_ids(),
            session_id=self.session_id,
            turn_id=self.turn_id,
            priority=self.priority,
        )


def governed_factory(
    governor: Governor,
    base_factory: ProviderFactory | None = None,
    **context: Any,
) -> ProviderFactory:
    """A provider factory for LLMClient whose adapters are GovernedProviders.

    `context` is passed to each GovernedProvider: session_id, turn_id, priority, call_ids.
    """
    if base_factory is None:
        from opscopilot.llm.client import _open_provider as base_factory  # the client's default

    def factory(name: str, http: httpx.AsyncClient | None) -> Provider:
        return GovernedProvider(base_factory(name, http), governor, **context)

    return factory


def governed_client(governor: Governor, **context: Any) -> LLMClient:
    """An LLMClient (retries, fallback) whose every model call is governed.

    `http` in `context` shares a connection pool; the rest goes to `governed_factory`.
    """
    from opscopilot.llm.client import LLMClient

    http = context.pop("http", None)
    return LLMClient(http=http, provider_factory=governed_factory(governor, **context))
