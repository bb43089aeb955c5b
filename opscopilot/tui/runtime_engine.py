"""`Engine` over the real parts: F's Runtime (turns, EventBus), E's Store (approvals,
sessions, events), D's tools (argument schemas) and C's catalog (models).

The store is opened on first use and shared by the poll, decision and history workers
(it is safe across threads). Blocking methods are called from thread workers only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

from opscopilot.events import Event
from opscopilot.redact import redact
from opscopilot.tui.engine import ApprovalView, Decision, EngineError, SessionView


class RuntimeEngine:
    """The TUI's engine in production: everything real, nothing simulated."""

    def __init__(
        self,
        *,
        db_path: Path | None = None,
        approve_mode: str = "ask",
        max_cost: float | None = None,
        runtime: Any | None = None,
    ) -> None:
        self.db_path = db_path
        self.approve_mode = approve_mode
        self.max_cost = max_cost
        self._runtime = runtime
        self._store: Any | None = None
        self._lock = threading.Lock()

    # --- parts, opened lazily ---------------------------------------------------------

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                from opscopilot.store import Store, StoreError

                try:
                    self._store = Store.open(self.db_path)
                except StoreError as exc:
                    raise EngineError(exc.kind, redact(str(exc))) from None
            return self._store

    @property
    def runtime(self) -> Any:
        if self._runtime is None:
            store = self.store
            with self._lock:
                if self._runtime is None:
                    from opscopilot.runtime import Runtime

                    self._runtime = Runtime(store)
        return self._runtime

    # --- turns ------------------------------------------------------------------------

    async def subscribe(self) -> AsyncIterator[Event]:
        subscription = self.runtime.bus.subscribe()
        try:
            async for event in subscription:
                yield event
        finally:
            subscription.close()

    async def start_turn(self, session_id: str, prompt: str, *, model: str) -> None:
        # The TUI names a pane's session before its first turn, so its events route at once.
        if await anyio.to_thread.run_sync(self.store.get_session, session_id) is None:
            await anyio.to_thread.run_sync(
                self.store.create_session, session_id, model, redact(prompt[:80]), time.time()
            )
        await self._call(
            self.runtime.start_turn(
                session_id, prompt, model=model, approve_mode=self.approve_mode,
                max_cost=self.max_cost,
            )
        )

    async def resume(self, turn_id: str) -> None:
        await self._call(self.runtime.resume(turn_id))

    @staticmethod
    async def _call(awaitable: Any) -> None:
        """Run a runtime call; a layer's error (anything with a `kind`) becomes one EngineError."""
        try:
            await awaitable
        except EngineError:
            raise
        except Exception as exc:
            kind = getattr(exc, "kind", None)
            if kind is None:
                raise
            raise EngineError(str(kind), redact(str(exc).splitlines()[0] if str(exc) else kind)) from None

    # --- approvals --------------------------------------------------------------------

    def pending_approvals(self) -> list[ApprovalView]:
        return [ApprovalView.from_record(r) for r in self.store.list_approvals(status="pending")]

    async def decide(
        self,
        approval_id: str,
        decision: Decision,
        *,
        reason: str = "",
        arguments: dict[str, Any] | None = None,
    ) -> None:
        await self._call(
            self.runtime.decide(
                approval_id, decision, reason=redact(reason), arguments=arguments
            )
        )

    async def allow_always(self, session_id: str, tool: str, command: str | None) -> None:
        await self._call(self.runtime.allow_always(session_id, tool, command))

    def validate_arguments(self, tool: str, arguments: dict[str, Any]) -> str | None:
        try:
            from opscopilot.tools import ToolError, ToolRegistry
        except ImportError:
            return None  # no tool schemas in this build: the runtime validates at run time
        try:
            ToolRegistry.default().get(tool).validate(arguments)
        except ToolError as exc:
            return redact(str(exc).splitlines()[0] if str(exc) else exc.kind)
        return None

    # --- sessions and models ----------------------------------------------------------

    def sessions(self) -> list[SessionView]:
        return [SessionView.from_record(r) for r in self.store.list_sessions(limit=100)]

    def session_events(self, session_id: str) -> list[Event]:
        return [event for _, event in self.store.events(session_id=session_id)]

    def models(self) -> list[str]:
        from opscopilot.llm import catalog

        return [info.id for info in catalog.all_models()]

    async def aclose(self) -> None:
        """Close the runtime's HTTP client and bus (the TUI calls this as it exits)."""
        if self._runtime is not None:
            await self._runtime.aclose()

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

