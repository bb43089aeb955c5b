"""The stream guard: prices a model's output as it arrives and stops the call at a cap.

It wraps the adapter's async generator of canonical stream events. The moment the running
cost crosses a cap it calls `aclose()` on that generator, which exits the adapter's
`async with http.stream(...)` and so closes the connection: the provider stops generating
(and billing). What was yielded stays yielded; the stream then ends with a UsageUpdate
(the provider's figure if it came, else the estimate) and StreamError(LLMError("budget")).
Overshoot is at most one network event's worth of tokens.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from opscopilot.governance.caps import Caps, spent_in
from opscopilot.governance.errors import GovernanceError
from opscopilot.governance.estimate import estimate_text_tokens, scope_label, usd
from opscopilot.governance.ledger import SCOPES, Ledger, Scope, Spent
from opscopilot.llm.types import LLMError, Price, StreamError, StreamEvent, Usage, UsageUpdate

if TYPE_CHECKING:
    from opscopilot.governance.metrics import Meter
    from opscopilot.governance.scheduler import Ticket

LEDGER_INTERVAL_S = 0.25  # the running estimate is written at most this often

Publish = Callable[[Any], None]


@dataclass
class CallMeter:
    """The running usage and cost of one call: estimated from characters until the
    provider reports, then the provider's figure plus whatever streamed after it.

    Kept as plain counts, priced with `Price.cost_of`: `update` runs for every streamed
    event, and a `Usage` is built only when someone reads `usage`.
    """

    provider: str
    prompt_tokens: int
    price: Price | None
    provider_usage: Usage | None = None
    chars_since_usage: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    _usage: Usage | None = field(default=None, repr=False)

    def add_chars(self, count: int) -> None:
        self.chars_since_usage += count

    def add_usage(self, usage: Usage) -> None:
        self.provider_usage = usage
        self.chars_since_usage = 0
        self._usage = None

    @property
    def estimated(self) -> bool:
        return self.provider_usage is None or self.chars_since_usage > 0

    @property
    def usage(self) -> Usage:
        if self._usage is None:
            reported = self.provider_usage or Usage()
            self._usage = reported.model_copy(
                update={"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
            )
        return self._usage

    def update(self) -> tuple[float, float]:
        """Recompute usage and cost; returns (output tokens added, USD added) since last time."""
        reported = self.provider_usage
        extra = math.ceil(estimate_text_tokens(self.chars_since_usage, self.provider))
        output = (reported.output_tokens if reported else 0) + extra
        input_tokens = (reported.input_tokens if reported else 0) or self.prompt_tokens
        if self.price is None:
            cost = 0.0
        elif reported is None:
            cost = self.price.cost_of(input_tokens, output)
        else:
            cost = self.price.cost_of(
                input_tokens, output, reported.cache_read_tokens, reported.cache_write_tokens
            )
        added = (output - self.output_tokens, cost - self.cost)
        if output != self.output_tokens or input_tokens != self.input_tokens:
            self._usage = None
        self.input_tokens, self.output_tokens, self.cost = input_tokens, output, cost
        return added


async def guard_stream(
    stream: AsyncIterator[StreamEvent],
    *,
    price: Price | None,
    caps: Caps,
    spent_before: Spent,
    prompt_tokens: int = 0,
    provider: str = "",
    model: str = "",
    ledger: Ledger | None = None,
    call_id: str | None = None,
    session_id: str | None = None,
    turn_id: str | None = None,
    publish: Publish | None = None,
    meter: Meter | None = None,
    ticket: Ticket | None = None,
    ledger_interval_s: float = LEDGER_INTERVAL_S,
    refresh_spent: Callable[[], Spent] | None = None,
) -> AsyncIterator[StreamEvent]:
    """Yield `stream`'s events, priced as they come; cut the call off at the first cap crossed.

    `spent_before` is what the turn, session and day had spent before this call. With a
    ledger and a call_id, the running estimate is written at most every `ledger_interval_s`
    and the final figure when the stream ends, however it ends. `refresh_spent()`, when
    given, is asked at the same pace what the other calls (running at the same time, in this
    or another process) have spent since, so concurrent calls share one cap.
    """
    running = CallMeter(provider, prompt_tokens, price)
    limits = _limits(caps, spent_before) if price is not None else []
    warned: set[Scope] = set()
    finished = False
    received_any = False
    recorded_final = False
    last_write = time.monotonic()

    def record(final: bool) -> None:
        if ledger is None or call_id is None:
            return
        ledger.record(
            call_id,
            session_id=session_id,
            turn_id=turn_id,
            provider=provider,
            model=model,
            usage=running.usage,
            cost_usd=running.cost if price is not None else None,
            estimated=running.estimated if final else True,
        )

    def emit(event: Any) -> None:
        if publish is not None:
            publish(event)

    try:
        async for event in stream:
            received_any = True
            kind = event.type
            if kind == "text" or kind == "thinking":
                running.add_chars(len(event.text))  # type: ignore[union-attr]
            elif kind == "tool_call_delta":
                running.add_chars(len(event.arguments_delta))  # type: ignore[union-attr]
            elif kind == "tool_call_start":
                running.add_chars(len(event.name))  # type: ignore[union-attr]
            elif kind == "usage":
                running.add_usage(event.usage)  # type: ignore[union-attr]
            elif kind == "finish":
                finished = True
                if running.provider_usage is None:
                    # No figure from the provider: the estimate is the best there is, and the
                    # caller's Response must agree with the ledger.
                    running.update()
                    yield UsageUpdate(running.usage)
            tokens_added, cost_added = running.update()
            if meter is not None and (tokens_added or cost_added):
                meter.add(tokens_added, cost_added)
            crossed = None
            for scope, before, cap in limits:
                total = before + running.cost
                if total >= cap * caps.warn_fraction and scope not in warned:
                    warned.add(scope)
                    emit(_event("BudgetWarning", scope, total, cap, call_id, session_id, turn_id))
                if crossed is None and not finished and total > cap:
                    crossed = (scope, total, cap)
            yield event
            if kind == "error":
                break
            cancelled = ticket is not None and ticket.cancelled and not finished
            if crossed is not None or cancelled:
                await _close(stream)
                recorded_final = True
                await _record_final(record, emit, session_id, turn_id)
                yield UsageUpdate(running.usage)
                if cancelled:
                    yield StreamError(
                        LLMError("cancelled", "the call was cancelled", provider=provider or None)
                    )
                    return
                scope, total, cap = crossed  # type: ignore[misc]
                emit(_event("BudgetCutoff", scope, total, cap, call_id, session_id, turn_id))
                message = f"cut off at {usd(total)} of {usd(cap)} cap ({scope_label(scope)})"
                yield StreamError(LLMError("budget", message, provider=provider or None))
                return
            if ledger is not None and call_id is not None:
                now = time.monotonic()
                if now - last_write >= ledger_interval_s:
                    last_write = now
                    await _record_in_thread(record)
                    if refresh_spent is not None:
                        spent_before = await _refresh_in_thread(refresh_spent, spent_before)
                        limits = _limits(caps, spent_before) if price is not None else []
                    if publish is not None:
                        emit(_usage_event(running, call_id, session_id, turn_id, price))
    finally:
        await _close(stream)
        if not recorded_final and (received_any or finished):
            await _record_final(record, emit, session_id, turn_id)


def _limits(caps: Caps, spent: Spent) -> list[tuple[Scope, float, float]]:
    """(scope, spent before this call, cap) for every scope with a cap, in SCOPES order."""
    limits = []
    for scope in SCOPES:
        cap = caps.cap(scope)
        if cap is not None:
            limits.append((scope, spent_in(scope, spent), cap))
    return limits


async def _close(stream: AsyncIterator[StreamEvent]) -> None:
    """Close the upstream generator now, even while our caller is being cancelled."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    with anyio.CancelScope(shield=True):
        await aclose()


async def _record_final(
    record: Callable[[bool], None],
    emit: Callable[[Any], None],
    session_id: str | None,
    turn_id: str | None,
) -> None:
    """The call's final figure, written off the event loop (a commit costs ~0.3 ms) and
    shielded, so a cancelled or closed stream still leaves its spend in the ledger."""
    with anyio.CancelScope(shield=True):
        try:
            await anyio.to_thread.run_sync(record, True)
        except GovernanceError as exc:
            emit(_notice(f"could not record usage in the ledger: {exc}", session_id, turn_id))


async def _record_in_thread(record: Callable[[bool], None]) -> None:
    try:
        await anyio.to_thread.run_sync(record, False)
    except GovernanceError:
        pass  # a busy ledger must not stop the stream; the final figure is written at the end


async def _refresh_in_thread(refresh: Callable[[], Spent], current: Spent) -> Spent:
    try:
        latest = await anyio.to_thread.run_sync(refresh)
    except GovernanceError:
        return current  # keep enforcing against the last figure we had
    # Spend only grows; never let a lagging read loosen the cap.
    return Spent(
        turn=max(latest.turn, current.turn),
        session=max(latest.session, current.session),
        day=max(latest.day, current.day),
    )


def _event(
    kind: str,
    scope: Scope,
    total: float,
    cap: float,
    call_id: str | None,
    session_id: str | None,
    turn_id: str | None,
) -> Any:
    from opscopilot import events

    if kind == "BudgetWarning":
        return events.BudgetWarning(
            ts=time.time(),
            session_id=session_id,
            turn_id=turn_id,
            scope=scope,
            spent_usd=total,
            cap_usd=cap,
        )
    return events.BudgetCutoff(
        ts=time.time(),
        session_id=session_id,
        turn_id=turn_id,
        scope=scope,
        spent_usd=total,
        cap_usd=cap,
        call_id=call_id,
    )


def _usage_event(
    running: CallMeter,
    call_id: str,
    session_id: str | None,
    turn_id: str | None,
    price: Price | None,
) -> Any:
    from opscopilot.events import ModelUsage

    return ModelUsage(
        ts=time.time(),
        session_id=session_id,
        turn_id=turn_id,
        call_id=call_id,
        usage=running.usage,
        cost_usd=running.cost if price else None,
        estimated=True,
    )


def _notice(message: str, session_id: str | None, turn_id: str | None) -> Any:
    from opscopilot.events import Notice

    return Notice(
        ts=time.time(), session_id=session_id, turn_id=turn_id, level="warning", message=message
    )
