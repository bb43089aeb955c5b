"""Shared helpers for adapter tests: run a provider's stream to the end over real HTTP."""

from __future__ import annotations

from typing import Any

import anyio

from opscopilot.llm.types import LLMError, Request, ResponseBuilder, StreamEvent


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


def aggregate(provider: Any, request: Request):
    """The Response folded from the stream (raises the adapter's LLMError)."""
    events, error = collect(provider, request)
    if error is not None:
        raise error
    builder = ResponseBuilder(provider=provider.name, model=request.model)
    for event in events:
        builder.add(event)
    return builder.build(), events
