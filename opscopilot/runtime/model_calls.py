"""Executing a CallModel directive: one journaled, governed, streamed model call.

The call is journaled before it starts and its aggregated response after it ends, so a
resumed turn never pays twice for a call whose answer is already known. Every stream
event becomes an event of opscopilot/events.py as it arrives. `ModelCaller` is handed the
store, the client, the clock and the tools it offers; it never reaches back to the Runtime.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from opscopilot import events as ev
from opscopilot.agent import Action, CallModel, ModelFailed, ModelFinished, ModelOutcomeUnknown
from opscopilot.llm.types import (
    ErrorInfo,
    LLMError,
    Message,
    ModelSpec,
    Request,
    Response,
    ResponseBuilder,
    ToolCall,
    ToolResultPart,
)
from opscopilot.redact import redact

from .live import io

if TYPE_CHECKING:
    from opscopilot.llm.client import LLMClient
    from opscopilot.store import Store

    from .live import LiveTurn
    from .toolbox import Toolbox

ATTEMPT_MARK = "~"  # ledger ids of a call's later attempts: <call_id>~2, <call_id>~3 …

SYSTEM_PROMPT = (
    "You are opscopilot, an operations copilot working on the operator's live system. "
    "Use the tools to look before you conclude: read logs, check disks, memory, load, "
    "processes and URLs. Prefer read-only diagnostics; propose a change (restart, delete, "
    "edit) only when the evidence calls for it, one clear command at a time, never chained "
    "with shell syntax. A denied tool call is the operator's decision: work with what you "
    "have. Answer concisely with the evidence and the next step."
)


def valid_history(messages: list[Message]) -> list[Message]:
    """Answer tool calls of earlier unfinished turns so providers accept the history."""
    answered = {p.id for m in messages for p in m.parts if isinstance(p, ToolResultPart)}
    fixed: list[Message] = []
    for message in messages:
        fixed.append(message)
        for call in message.tool_calls:
            if call.id not in answered:
                fixed.append(
                    Message.tool_result(
                        call.id, "Not run: that turn did not finish.", is_error=True, name=call.name
                    )
                )
    return fixed


def response_from_journal(result: dict[str, Any]) -> Response:
    return Response.model_validate(result)


def finished_action(call_id: str, response: Response, now: float) -> Action:
    """The action a finished response feeds to the core."""
    if response.error is not None:
        return ModelFailed(
            call_id=call_id,
            error=response.error,
            now=now,
            partial_text=response.text,
            usage=response.usage,
            cost_usd=response.cost_usd,
        )
    return ModelFinished(
        call_id=call_id,
        now=now,
        text=response.text,
        thinking=response.thinking,
        thinking_signature=response.thinking_signature,
        tool_calls=tuple(
            ToolCall(id=c.id, name=c.name, arguments=c.arguments, arguments_error=c.arguments_error)
            for c in response.tool_calls
        ),
        usage=response.usage,
        cost_usd=response.cost_usd,
        finish_reason=response.finish_reason,
    )


class ModelCaller:
    """Runs the model calls of every turn of one runtime."""

    def __init__(
        self,
        store: Store,
        client: Callable[[], LLMClient],
        toolbox: Toolbox,
        *,
        clock: Callable[[], float],
        system_prompt: str = SYSTEM_PROMPT,
    ) -> None:
        self.store = store
        self.client = client  # the runtime's client, created when the first call needs it
        self.toolbox = toolbox
        self.clock = clock
        self.system_prompt = system_prompt

    async def call(self, live: LiveTurn, directive: CallModel) -> Action:
        """Run one model call for a turn and say how it ended, as an action for the core."""
        state = live.state
        now = self.clock()
        payload = {"model": state.model, "messages": len(directive.messages)}
        fresh = await io(
            self.store.journal_intent, state.turn_id, directive.call_id, "model_call", payload, now
        )
        if not fresh:
            entry = await io(self.store.journal_entry, directive.call_id)
            if entry is not None and entry.status == "ok" and entry.result:
                return finished_action(
                    directive.call_id, response_from_journal(entry.result), self.clock()
                )
            # Started before, no usable answer: spend already sits in the ledger; ask again.
            return ModelOutcomeUnknown(call_id=directive.call_id, now=self.clock())

        history = valid_history([*live.history, *directive.messages])
        request = Request(
            model=state.model,
            messages=history,
            system=self.toolbox.system_prompt(self.system_prompt),
            tools=self.toolbox.specs(),
        )
        try:
            response = await self._stream(live, directive.call_id, request)
        except LLMError as exc:
            info = ErrorInfo(kind=exc.kind, message=redact(str(exc)), retryable=exc.retryable)
            response = Response(
                provider=state.model.partition(":")[0],
                model=state.model,
                finish_reason="error",
                error=info,
            )
        result = response.model_dump(mode="json")
        result["text"] = redact(result["text"])
        await io(
            self.store.journal_result,
            directive.call_id,
            status="error" if response.error else "ok",
            result=result,
            finished_at=self.clock(),
        )
        return finished_action(directive.call_id, response, self.clock())

    async def _stream(self, live: LiveTurn, call_id: str, request: Request) -> Response:
        state = live.state
        chain = ModelSpec.parse_chain(state.model)
        first = chain[0]
        publish = live.publish
        from opscopilot.llm.client import price_for

        price, simulated = price_for(first)
        builder = ResponseBuilder(first.provider, first.model)
        spec = first

        shared = client = self.client()
        if live.governor is not None:
            # Each attempt (a retry, a fallback model) is governed on its own: its provider's
            # slot and price, its own ledger row, and a 429 cools that provider down at once.
            client = governed_client_for(shared, live, call_id)
        events: AsyncIterator[Any] = client.stream(chain, request)
        tagged = _tagger(state.session_id, state.turn_id, self.clock)
        answering = False
        try:
            async for item in events:
                kind = item.type
                if not answering and kind != "attempt":
                    answering = True
                    self.toolbox.model_call_under_way()
                if kind == "attempt":
                    spec = ModelSpec(provider=item.provider, model=item.model)
                    price, simulated = price_for(spec)
                    if item.attempt > 1 or item.chain_index > 0:
                        publish(
                            tagged(
                                ev.ModelRetry,
                                call_id=call_id,
                                attempt=item.attempt,
                                delay_s=item.delay_s,
                                reason=redact(item.reason or ""),
                                discarded_output=bool(builder.text_parts),
                            )
                        )
                    builder = ResponseBuilder(spec.provider, spec.model)
                    publish(
                        tagged(
                            ev.ModelCallStarted,
                            call_id=call_id,
                            provider=spec.provider,
                            model=spec.model,
                            attempt=item.attempt,
                        )
                    )
                    continue
                builder.add(item)
                if kind == "text":
                    publish(tagged(ev.ModelText, call_id=call_id, text=item.text))
                elif kind == "thinking" and item.text:
                    publish(tagged(ev.ModelThinking, call_id=call_id, text=item.text))
                elif kind == "tool_call_end":
                    publish(
                        tagged(
                            ev.ModelToolCall,
                            call_id=call_id,
                            tool_call_id=item.id,
                            name=item.name,
                            arguments=item.arguments,
                        )
                    )
                elif kind == "usage":
                    cost = price.cost(item.usage) if price is not None else None
                    publish(tagged(ev.ModelUsage, call_id=call_id, usage=item.usage, cost_usd=cost))
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
            if client is not shared:
                await client.aclose()  # its adapters only: the HTTP pool is the runtime client's
        response = builder.build(price=price, simulated=simulated)
        publish(
            tagged(
                ev.ModelFinished,
                call_id=call_id,
                provider=spec.provider,
                model=spec.model,
                finish_reason=response.finish_reason,
                usage=response.usage,
                cost_usd=response.cost_usd,
                cost_simulated=response.cost_simulated,
                error=response.error,
            )
        )
        return response


def governed_client_for(client: LLMClient, live: LiveTurn, call_id: str) -> LLMClient:
    """The runtime's client (same retry policy, adapters, HTTP pool) with governed adapters.

    The first attempt's ledger row is `call_id` (the journal's effect id); later attempts are
    `call_id~2`, `call_id~3` … so a failed attempt's spend is kept, not overwritten.
    """
    from opscopilot.governance.wiring import governed_factory

    attempts = itertools.count(1)

    def attempt_ids() -> str:
        number = next(attempts)
        return call_id if number == 1 else f"{call_id}{ATTEMPT_MARK}{number}"

    factory = governed_factory(
        live.governor,
        client.provider_factory,
        session_id=live.state.session_id,
        turn_id=live.state.turn_id,
        priority=live.priority,
        call_ids=attempt_ids,
    )
    return dataclasses.replace(
        client, provider_factory=factory, http=client._http(), _providers={}, _owned_loop=None
    )


def call_of_attempt(event: ev.Event) -> ev.Event:
    """An event the governor published about one attempt, as the call's (for the bus and TUI)."""
    attempt_id = getattr(event, "call_id", None)
    if not attempt_id or ATTEMPT_MARK not in attempt_id:
        return event
    return event.model_copy(update={"call_id": attempt_id.partition(ATTEMPT_MARK)[0]})


def _tagger(session_id: str, turn_id: str, clock: Callable[[], float]) -> Callable[..., Any]:
    def tagged(event_type: type[Any], **fields: Any) -> Any:
        return event_type(ts=clock(), session_id=session_id, turn_id=turn_id, **fields)

    return tagged
