"""Helpers for the adapter and client tests: run a provider's stream to the end over real HTTP."""

from __future__ import annotations

from typing import Any

import anyio

from opscopilot.llm.providers.base import ProviderSettings
from opscopilot.llm.types import LLMError, Request, Response, ResponseBuilder, StreamEvent

OPENAI_KEY = "sk-test-openai-0123456789abcdefghij"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdefghij"


def openai_settings(
    url: str, name: str = "openai", key: str | None = OPENAI_KEY
) -> ProviderSettings:
    return ProviderSettings(name=name, adapter="openai", base_url=f"{url}/v1", api_key=key)


def anthropic_settings(url: str, key: str | None = ANTHROPIC_KEY) -> ProviderSettings:
    return ProviderSettings(name="anthropic", adapter="anthropic", base_url=url, api_key=key)


def collect(provider: Any, request: Request) -> tuple[list[StreamEvent], LLMError | None]:
    """Every event the adapter yields, and the LLMError it raised (None when it finished)."""

    async def run() -> tuple[list[StreamEvent], LLMError | None]:
        events: list[StreamEvent] = []
        try:
            async for event in provider.stream(request):
                events.append(event)
        except LLMError as exc:
            return events, exc
        return events, None

    return anyio.run(run)


def aggregate(provider: Any, request: Request) -> tuple[Response, list[StreamEvent]]:
    """The Response folded from a stream that must succeed."""
    events, error = collect(provider, request)
    if error is not None:
        raise error
    builder = ResponseBuilder(provider=provider.name, model=request.model)
    for event in events:
        builder.add(event)
    return builder.build(), events
