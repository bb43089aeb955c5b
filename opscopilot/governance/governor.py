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
from opscopilot.llm.types import LLMError, Price, Request, StreamError, StreamEvent

DEFAULT_COOLDOWN_S = 1.0  # after a rate limit that did not say how long to wait

OpenStream = Callable[[Request], AsyncIterator[StreamEvent]]


@dataclass
class Governor:
    """Budgets and the queue for model calls: preflight, a slot, the guard, the ledger."""

    ledger: Ledger
    caps: Caps
    scheduler: Scheduler
    publish: Publish | None = None

    @classmethod
    def open(
        cls,
        *,
        flag_max_cost: float | str | None = None,
        flag_scope: Scope = "call",
        publish: Publish | None = None,
        ledger_path: Path | None = None,
        scheduler: Scheduler | None = None,
    ) -> Governor:
        """The ledger on the shared database, caps by precedence, the process's scheduler.

        `flag_scope` says what `--max-cost` caps: "call" for `prompt`, "turn" for `run`.
        """
        ledger = Ledger(ledger_path)
        try:
            caps = load_caps(flag_max_cost, flag_scope=flag_scope, ledger=ledger)
        except GovernanceError:
            ledger.close()
            raise
        return cls(ledger, caps, scheduler or default_scheduler(), publish)

    def close(self) -> None:
        self.ledger.close()

    def spent_before(self, *, session_id: str | None, turn_id: str | None) -> Spent:
        return self.ledger.spent_before(session_id=session_id, turn_id=turn_id)

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
        try:
            spent = await anyio.to_thread.run_sync(
                lambda: self.spent_before(session_id=session_id, turn_id=turn_id)
            )
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
        if price is None and not price_hint:
            price_hint = price_hint_for(f"{provider}:{request.model}")
        verdict = self.check(
            request, provider=provider, price=price, spent=spent, price_hint=price_hint
        )
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
                    ),
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


def price_hint_for(spec: str) -> str:
    """The catalog's one-line advice on pricing a model it does not know."""
    try:
        from opscopilot.llm import catalog

        return catalog.price_hint(spec)
    except (ModuleNotFoundError, AttributeError):
        return f'add a price under [models."{spec}"] in config.toml'
