"""One helper that puts a model call under every rule of this layer, for `prompt` and the runtime.

`Governor.stream(open_stream, request, ...)` checks the caps before the call (refusing it
or lowering max_tokens), waits for a scheduler slot, runs the provider's stream through the
stream guard (which prices it, records it in the ledger and cuts it off at a cap), and turns
rate limits into provider cool-downs. Refusals come out as a StreamError with an LLMError of
kind "budget" (a cap), "overloaded" (queue full, not retryable) or "cancelled".
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from opscopilot.governance.caps import Caps, load_caps
from opscopilot.governance.errors import GovernanceError
from opscopilot.governance.estimate import Preflight, preflight
from opscopilot.governance.guard import Publish, guard_stream
from opscopilot.governance.ledger import Ledger, Scope, Spent
from opscopilot.governance.scheduler import Priority, Scheduler, default_scheduler
from opscopilot.llm.types import LLMError, Price, Request, StreamError, StreamEvent, Usage

DEFAULT_COOLDOWN_S = 1.0  # after a rate limit that did not say how long to wait

OpenStream = Callable[[Request], AsyncIterator[StreamEvent]]


@dataclass
class Governor:
    """Budgets and the queue for model calls: preflight, a slot, the guard, the ledger."""

    ledger: Ledger
    caps: Caps
    scheduler: Scheduler
    publish: Publish | None = None
    owns_ledger: bool = True  # False: the ledger was lent (a runtime's, shared by its turns)

    @classmethod
    def open(
        cls,
        *,
        flag_max_cost: float | str | None = None,
        flag_scope: Scope = "call",
        publish: Publish | None = None,
        ledger_path: Path | None = None,
        scheduler: Scheduler | None = None,
        ledger: Ledger | None = None,
    ) -> Governor:
        """The ledger on the shared database (or the one lent), caps by precedence, the
        process's scheduler.

        `flag_scope` says what `--max-cost` caps: "call" for `prompt`, "turn" for `run`.
        """
        owns = ledger is None
        if ledger is None:
            ledger = Ledger(ledger_path)
        try:
            caps = load_caps(flag_max_cost, flag_scope=flag_scope, ledger=ledger)
        except GovernanceError:
            if owns:
                ledger.close()
            raise
        return cls(ledger, caps, scheduler or default_scheduler(), publish, owns)

    def close(self) -> None:
        if self.owns_ledger:
            self.ledger.close()

    def spent_before(self, *, session_id: str | None, turn_id: str | None) -> Spent:
        """What the capped scopes already spent (a scope without a cap is not read: 0)."""
        return self.ledger.spent_before(
            session_id=session_id, turn_id=turn_id, scopes=self.caps.limits().keys()
        )

    def check(
        self,
        request: Request,
        *,
        provider: str,
        price: Price | None,
        spent: Spent,
        price_hint: str = "",
    ) -> Preflight:
        """The preflight verdict for `request` against these caps and what was spent."""
        return preflight(request, price, self.caps, spent, provider=provider, price_hint=price_hint)

    async def stream(
        self,
        open_stream: OpenStream,
        request: Request,
        *,
        provider: str,
        price: Price | None,
        call_id: str,
        session_id: str | None = None,
        turn_id: str | None = None,
        priority: Priority = "interactive",
        price_hint: str = "",
    ) -> AsyncIterator[StreamEvent]:
        """Yield the call's stream events under the caps and the queue (see module doc)."""
        if price is None and not price_hint:
            price_hint = price_hint_for(f"{provider}:{request.model}")

        def judge(spent: Spent) -> tuple[Preflight, float]:
            verdict = self.check(
                request, provider=provider, price=price, spent=spent, price_hint=price_hint
            )
            return verdict, held_cost(verdict, price) if verdict.allowed else 0.0

        reserved = False
        try:
            if self.caps.any:
                # Check and hold the call's cost in one step under the ledger's lock, so
                # racing processes (other hosts on a team store too) share the caps.
                verdict, spent = await anyio.to_thread.run_sync(
                    lambda: self.ledger.reserve(
                        call_id,
                        judge,
                        session_id=session_id,
                        turn_id=turn_id,
                        provider=provider,
                        model=request.model,
                        scopes=self.caps.limits().keys(),
                    )
                )
                reserved = verdict.allowed
            else:
                spent = await anyio.to_thread.run_sync(
                    lambda: self.spent_before(session_id=session_id, turn_id=turn_id)
                )
                verdict, _ = judge(spent)
        except GovernanceError as exc:
            if self.caps.any:  # caps we cannot check are not waved through
                yield StreamError(
                    LLMError(
                        "budget",
                        f"cannot check the caps: {exc.message}",
                        retryable=False,
                        provider=provider,
                    )
                )
                return
            self._notice("warning", f"spend not checked: {exc.message}", session_id, turn_id)
            spent = Spent()
            verdict, _ = judge(spent)
        if not verdict.allowed:
            self._refused(verdict, call_id, session_id, turn_id)
            yield StreamError(
                LLMError("budget", verdict.reason, retryable=False, provider=provider)
            )
            return
        if verdict.max_tokens != request.max_tokens:
            self._notice("info", verdict.reason, session_id, turn_id)
            request = request.model_copy(update={"max_tokens": verdict.max_tokens})
        try:
            async with self.scheduler.slot(provider, priority) as ticket:
                upstream = open_stream(request)
                async for event in guard_stream(
                    upstream,
                    price=price,
                    caps=self.caps,
                    spent_before=spent,
                    prompt_tokens=verdict.prompt_tokens,
                    provider=provider,
                    model=request.model,
                    ledger=self.ledger,
                    call_id=call_id,
                    session_id=session_id,
                    turn_id=turn_id,
                    publish=self.publish,
                    meter=self.scheduler.meter,
                    ticket=ticket,
                    refresh_spent=functools.partial(
                        self.ledger.spent_before,
                        session_id=session_id,
                        turn_id=turn_id,
                        exclude_call=call_id,
                        scopes=self.caps.limits().keys(),
                    )
                    if self.caps.any
                    else None,
                ):
                    if event.type == "error":
                        self._note_rate_limit(provider, event.error)  # type: ignore[union-attr]
                    yield event
        except GovernanceError as exc:  # from the slot: a full queue, or cancelled while queued
            kind = "cancelled" if exc.kind == "cancelled" else "overloaded"
            yield StreamError(LLMError(kind, exc.message, retryable=False, provider=provider))
        except LLMError as exc:
            self._note_rate_limit(provider, exc)
            raise
        finally:
            if reserved:
                await _release(self.ledger, call_id)

    def _note_rate_limit(self, provider: str, error: LLMError) -> None:
        if error.kind in ("rate_limit", "overloaded"):
            seconds = error.retry_after if error.retry_after is not None else DEFAULT_COOLDOWN_S
            self.scheduler.cooldown(provider, seconds)

    def _refused(
        self, verdict: Preflight, call_id: str, session_id: str | None, turn_id: str | None
    ) -> None:
        if self.publish is None:
            return
        if verdict.scope is not None and verdict.cap_usd is not None:
            from opscopilot.events import BudgetCutoff

            self.publish(
                BudgetCutoff(
                    ts=time.time(),
                    session_id=session_id,
                    turn_id=turn_id,
                    scope=verdict.scope,
                    spent_usd=verdict.spent_usd,
                    cap_usd=verdict.cap_usd,
                    call_id=call_id,
                )
            )
        self._notice("error", verdict.reason, session_id, turn_id)

    def _notice(
        self, level: str, message: str, session_id: str | None, turn_id: str | None
    ) -> None:
        if self.publish is None:
            return
        from opscopilot.events import Notice

        self.publish(
            Notice(
                ts=time.time(), session_id=session_id, turn_id=turn_id, level=level, message=message
            )
        )  # type: ignore[arg-type]


# The output a reservation holds when a call may write more (no max_tokens, or a large one):
# holding the whole headroom for every such call would let one call starve all the others.
# Past it the call's running estimate counts instead, and the stream guard cuts it off at the cap.
HELD_OUTPUT_TOKENS = 1024


def held_cost(verdict: Preflight, price: Price | None) -> float:
    """What a call allowed by `verdict` holds against the caps while it runs: its prompt and
    the output allowed (at most HELD_OUTPUT_TOKENS)."""
    if price is None:
        return 0.0
    allowed = verdict.max_tokens if verdict.max_tokens is not None else HELD_OUTPUT_TOKENS
    output = min(allowed, HELD_OUTPUT_TOKENS)
    return price.cost(Usage(input_tokens=verdict.prompt_tokens, output_tokens=output))


async def _release(ledger: Ledger, call_id: str) -> None:
    """Stop holding a call's reservation (its recorded figure counts from now on)."""
    with anyio.CancelScope(shield=True):
        try:
            await anyio.to_thread.run_sync(ledger.release, call_id)
        except GovernanceError:
            pass  # the reservation keeps counting: the caps stay safe, only stricter


def price_hint_for(spec: str) -> str:
    """The catalog's one-line advice on pricing a model it does not know."""
    try:
        from opscopilot.llm import catalog

        return catalog.price_hint(spec)
    except (ModuleNotFoundError, AttributeError):
        return f'add a price under [models."{spec}"] in config.toml'
