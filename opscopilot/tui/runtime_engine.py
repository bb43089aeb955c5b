"""`Engine` over the real parts: F's Runtime (turns, EventBus), E's Store (approvals,
sessions, events), D's tools (argument schemas) and C's catalog (models).

The store is opened on first use and shared by the poll, decision and history workers
(it is safe across threads). Blocking methods are called from thread workers only. While
turns run, `run_metrics` publishes the scheduler's figures to the runtime's bus (the queue
meter); with recording on, every session's events are written as they are published.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from opscopilot.events import Event, Notice
from opscopilot.redact import redact
from opscopilot.tui.engine import (
    AllowRuleView,
    ApprovalView,
    Decision,
    EngineError,
    SessionView,
)

if TYPE_CHECKING:
    from opscopilot.replay.live import RecordingSettings, SessionRecorder

FOREIGN_WAIT_S = 1.0  # longest wait on the store before the shown sessions are asked again


class RuntimeEngine:
    """The TUI's engine in production: everything real, nothing simulated."""

    def __init__(
        self,
        *,
        db_path: Path | None = None,
        approve_mode: str = "ask",
        max_cost: float | None = None,
        runtime: Any | None = None,
        recording: RecordingSettings | None = None,
    ) -> None:
        self.db_path = db_path
        self.approve_mode = approve_mode
        self.max_cost = max_cost
        self._runtime = runtime
        self._store: Any | None = None
        self._lock = threading.Lock()
        self.recorder: SessionRecorder | None = None
        if recording is not None and recording.enabled:
            from opscopilot.replay.live import SessionRecorder

            self.recorder = SessionRecorder(recording.directory, file=recording.file)
        self._running_turns = 0
        self._turns_started = anyio.Event()
        self._metrics_scope: anyio.CancelScope | None = None
        self._metrics_session: str | None = None
        self._ledger: Any | None = None
        self._caps: Any | None = None
        self.own_turns: set[str] = set()  # turns whose events reach the app through its bus
        self._history_upto: dict[str, int] = {}  # session -> last event seq drawn as history

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

                    # The TUI owns the turns its panes run, and stays with a paused one:
                    # a decision made anywhere reaches it and the pane continues.
                    self._runtime = Runtime(store, owner_kind="tui")
        return self._runtime

    # --- MCP servers ------------------------------------------------------------------

    def mcp_configured(self) -> bool:
        from opscopilot import config

        return bool(config.config().get("mcp_servers"))

    async def mcp_status(self) -> list[dict[str, Any]]:
        """Start the runtime's MCP servers (those not up yet) and report each one."""
        servers = self.runtime.mcp
        if servers is None:
            return []
        await servers.prepare("tui-status")
        return servers.status()

    # --- turns ------------------------------------------------------------------------

    async def subscribe(self) -> AsyncIterator[Event]:
        subscription = self.runtime.bus.subscribe()
        try:
            async for event in subscription:
                notice = self._record(event)
                yield event
                if notice is not None:
                    yield notice
        finally:
            subscription.close()

    def _record(self, event: Event) -> Notice | None:
        """Write the event to its session's recording; a Notice when a file opens or fails."""
        recorder = self.recorder
        if recorder is None or event.session_id is None:
            return None
        from opscopilot.replay.recording import RecordingError

        known = event.session_id in recorder.paths
        try:
            recorder.write(event)
        except RecordingError as exc:
            recorder.close()
            self.recorder = None
            return Notice(ts=time.time(), level="warning", message=f"recording stopped: {exc}")
        if not known:
            path = recorder.paths[event.session_id]
            return Notice(ts=time.time(), message=f"recording {event.session_id} to {path}")
        return None

    @asynccontextmanager
    async def _turn_running(self, session_id: str | None) -> AsyncIterator[None]:
        """Count turns under way, so the queue meter's figures flow exactly while they run."""
        self._metrics_session = session_id or self._metrics_session
        self._running_turns += 1
        self._turns_started.set()
        try:
            yield
        finally:
            self._running_turns -= 1
            if self._running_turns == 0:
                self._turns_started = anyio.Event()
                if self._metrics_scope is not None:
                    self._metrics_scope.cancel()

    async def run_metrics(self) -> None:
        """Publish SchedulerMetrics on the bus every 250 ms while turns run, and once after."""
        from opscopilot.governance import default_scheduler, publish_metrics

        while True:
            await self._turns_started.wait()
            scheduler = default_scheduler()
            ledger, caps = await anyio.to_thread.run_sync(self._ledger_and_caps)
            bus = self.runtime.bus

            def scope_keys() -> dict[str, str | None]:
                return {"session_id": self._metrics_session}

            with anyio.CancelScope() as scope:
                self._metrics_scope = scope
                if self._running_turns > 0:
                    await publish_metrics(
                        scheduler, bus.publish, ledger=ledger, caps=caps, scope_keys=scope_keys
                    )
            self._metrics_scope = None
            bus.publish(scheduler.metrics())  # the queue as the last turn left it: idle

    def _ledger_and_caps(self) -> tuple[Any, Any]:
        """The ledger and caps behind the meters' spend figures (None, None when unreadable)."""
        from opscopilot.governance import GovernanceError, Ledger, load_caps

        try:
            path = self.store.path
        except EngineError:
            return None, None
        with self._lock:
            if self._ledger is None:
                try:
                    self._ledger = Ledger(path)
                    self._caps = load_caps(self.max_cost, flag_scope="turn", ledger=self._ledger)
                except GovernanceError:
                    self._ledger = self._caps = None
            return self._ledger, self._caps

    async def start_turn(self, session_id: str, prompt: str, *, model: str) -> None:
        # The TUI names a pane's session before its first turn, so its events route at once.
        if await anyio.to_thread.run_sync(self.store.get_session, session_id) is None:
            await anyio.to_thread.run_sync(
                self.store.create_session, session_id, model, redact(prompt[:80]), time.time()
            )
        async with self._turn_running(session_id):
            await self._call(
                self.runtime.start_turn(
                    session_id,
                    prompt,
                    model=model,
                    approve_mode=self.approve_mode,
                    max_cost=self.max_cost,
                    wait_for_approval=True,
                )
            )

    async def resume(self, turn_id: str) -> None:
        """Continue a turn whose approvals were decided, unless it is already going on: here
        (a pane's own turn picks its decisions up itself) or in another live process."""
        if turn_id in self.runtime.live_turns():
            return
        async with self._turn_running(None):
            try:
                await self._call(self.runtime.resume(turn_id, wait_for_approval=True))
            except EngineError as exc:
                if exc.kind != "owned":
                    raise
                self.runtime.bus.publish(Notice(ts=time.time(), message=str(exc)))

    async def cancel(self, turn_id: str) -> None:
        """Stop the turn; approvals it was waiting for are denied, so nobody reviews them in vain."""
        await self._call(self.runtime.cancel(turn_id, "cancelled by the operator (TUI)"))
        pending = await anyio.to_thread.run_sync(lambda: self.pending_approvals(turn_id=turn_id))
        for approval in pending:
            try:
                await self._call(
                    self.runtime.decide(approval.id, "denied", reason="the turn was cancelled")
                )
            except EngineError as exc:
                if exc.kind != "conflict":  # someone decided it first: nothing to do
                    raise

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
            raise EngineError(
                str(kind), redact(str(exc).splitlines()[0] if str(exc) else kind)
            ) from None

    # --- approvals --------------------------------------------------------------------

    def pending_approvals(
        self, *, turn_id: str | None = None, limit: int | None = None
    ) -> list[ApprovalView]:
        records = self.store.list_approvals(status="pending", turn_id=turn_id, limit=limit)
        return [ApprovalView.from_record(r) for r in records]

    def pending_count(self) -> int:
        return self.store.count_approvals(status="pending")

    async def decide(
        self,
        approval_id: str,
        decision: Decision,
        *,
        reason: str = "",
        arguments: dict[str, Any] | None = None,
    ) -> None:
        await self._call(
            self.runtime.decide(approval_id, decision, reason=redact(reason), arguments=arguments)
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

    def allow_rules(self, session_id: str) -> list[AllowRuleView]:
        return [
            AllowRuleView(r.id, r.tool, r.command, r.created_at)
            for r in self.store.list_allow_rules(session_id)
        ]

    def revoke_rule(self, rule_id: int) -> None:
        from opscopilot.store import StoreError

        try:
            self.store.revoke_allow_rule(rule_id)
        except StoreError as exc:
            raise EngineError(exc.kind, redact(str(exc))) from None

    def session_events(self, session_id: str) -> list[Event]:
        stored = self.store.events(session_id=session_id)
        if stored:
            self._history_upto[session_id] = stored[-1][0]
        return [event for _, event in stored]

    async def foreign_events(
        self, sessions: Callable[[], Collection[str]], *, interval_s: float = 0.1
    ) -> AsyncIterator[Event]:
        """Until cancelled: events other processes store for the sessions the panes show
        (a `run` in another terminal, a batch ticket), as they are committed."""
        tail = await anyio.to_thread.run_sync(self.store.tail_events)
        try:
            while True:
                shown = list(sessions())
                # Woken by the store (pushed on PostgreSQL); the panes shown are asked again
                # at least every second.
                stored = await tail.next(shown, FOREIGN_WAIT_S) if shown else []
                # Never `self.runtime` here: creating it may wait for the store's lock, and
                # this runs on the app's event loop.
                runtime = self._runtime
                ours = self.own_turns | (runtime.driven_turns if runtime is not None else set())
                for seq, event in stored:
                    if event.turn_id is None or event.turn_id in ours:
                        continue
                    if seq <= self._history_upto.get(event.session_id or "", 0):
                        continue  # already drawn as the pane's history
                    yield event
                if stored or not shown:
                    await anyio.sleep(interval_s)  # a burst of batches is read as one
        finally:
            tail.close()

    async def approval_changes(self) -> AsyncIterator[None]:
        """Until cancelled: once each time approvals are requested or decided, by any process
        on any host (the store's change feed: pushed on PostgreSQL)."""
        watch = await anyio.to_thread.run_sync(self.store.watch_changes)
        try:
            yield None  # once the watch is in place: what was asked before it is read too
            while True:
                changes = await watch.next(FOREIGN_WAIT_S)
                if any(change.kind.startswith("approval.") for change in changes):
                    yield None
        finally:
            watch.close()

    def earlier_turns(self, session_id: str, before: int) -> list[tuple[str, str, str]]:
        turns = self.store.list_turns(session_id)[:before]
        return [(turn.prompt, turn.status, turn.text) for turn in turns]

    def models(self) -> list[str]:
        from opscopilot.llm import catalog

        return [info.id for info in catalog.all_models()]

    async def aclose(self) -> None:
        """Close the runtime's HTTP client and bus (the TUI calls this as it exits)."""
        if self._runtime is not None:
            await self._runtime.aclose()

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None
            if self._store is not None:
                self._store.close()
                self._store = None
