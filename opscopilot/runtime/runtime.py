"""The runtime: owns time, ids and I/O, and interprets the pure core's directives.

One loop per turn: execute a directive, feed what happened back to `cmd` as an action,
checkpoint the new state in SQLite, queue the new directives. A turn that waits for an
operator is a snapshot, not a blocked coroutine: `start_turn` returns (status
awaiting_approval) unless asked to wait, and `resume` picks the snapshot up from any
process. Every event goes to the Store and to the in-process EventBus.
"""

from __future__ import annotations

import functools
import getpass
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from opscopilot import config
from opscopilot.agent import (
    Action,
    ApprovalDecided,
    ApprovalExpired,
    CallModel,
    Cancel,
    ClassifyTools,
    Directive,
    Emit,
    RecordMessage,
    RequestApproval,
    Resumed,
    RetryDue,
    RunTool,
    ScheduleRetry,
    TurnRequested,
    TurnState,
    WaitForApproval,
    cmd,
)
from opscopilot.events import Event, Notice, SessionStarted
from opscopilot.llm.types import Message, ModelSpec, ToolSpec
from opscopilot.redact import redact

from .bus import EventBus
from .errors import RuntimeFailure
from .model_calls import SYSTEM_PROMPT, call_model, call_of_attempt
from .outcome import TurnOutcome
from .persist import PersistFilter
from .presence import Presence
from .tool_calls import classify_calls, request_approval, run_tool

if TYPE_CHECKING:
    from opscopilot.governance import Governor
    from opscopilot.llm.client import LLMClient
    from opscopilot.store import ApprovalRecord, Store

APPROVE_MODES = ("ask", "read-only", "all", "none")
DEFAULT_MAX_MODEL_CALLS = 8
# A waiting turn is woken by the store's change watch when a decision is committed anywhere;
# it also looks this often on its own (and at each deadline), in case a wake-up was missed.
APPROVAL_RECHECK_S = 5.0


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def operator_name() -> str:
    try:
        return os.environ.get("OPSCOPILOT_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _redacted(value: Any) -> Any:
    """Every string in a snapshot passed through redact (secrets never land on disk)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


@dataclass
class LiveTurn:
    """A turn being driven in this process."""

    state: TurnState
    history: list[Message]
    publish: Callable[[Event], None]
    wait_for_approval: bool = False
    priority: str = "interactive"
    governor: Governor | None = None
    scope: anyio.CancelScope | None = None
    cancel_reason: str | None = None
    wake: anyio.Event = field(default_factory=anyio.Event)
    next_deadline: float | None = None  # the earliest expiry among its pending approvals


class Runtime:
    """Runs agent turns: models through the llm client, tools through opscopilot.tools."""

    def __init__(
        self,
        store: Store,
        *,
        bus: EventBus | None = None,
        client: LLMClient | None = None,
        clock: Callable[[], float] = time.time,
        governed: bool = True,
        priority: str = "interactive",
        system_prompt: str = SYSTEM_PROMPT,
        owner_kind: str | None = None,
    ) -> None:
        self.store = store
        self.bus = bus or EventBus()
        self._client = client
        self.clock = clock
        self.governed = governed
        self.priority = priority
        self.base_system_prompt = system_prompt
        self._tools: Any = None
        self._mcp: Any = None  # opscopilot.mcp.McpServers, when config.toml names servers
        self._live: dict[str, LiveTurn] = {}
        self.driven_turns: set[str] = set()  # every turn this runtime drove (its events are ours)
        self._persist = PersistFilter()
        self.notifier: Any = None  # [notify]: tells someone when an approval is requested
        if config.section("notify"):
            from opscopilot.web.notify import Notifier

            self.notifier = Notifier.from_config(self.publish)
        from opscopilot.store.owners import OwnerIdentity

        # Who this runtime is when it claims a turn: tui, batch, resume or run.
        kind = owner_kind or ("batch" if priority == "batch" else "run")
        self.presence = Presence(store, OwnerIdentity(kind=kind, operator=operator_name()))
        agent_section = config.section("agent")
        self.max_model_calls = int(agent_section.get("max_model_calls", DEFAULT_MAX_MODEL_CALLS))
        self.model_retries = int(agent_section.get("model_retries", 0))
        if self.max_model_calls < 1:
            raise config.ConfigError(
                f"{config.config_path()}: [agent] max_model_calls must be at least 1"
            )

    @classmethod
    def open(cls, **options: Any) -> Runtime:
        """A runtime on the default database (config.db_path())."""
        from opscopilot.store import Store

        return cls(Store.open(), **options)

    async def aclose(self) -> None:
        if self.notifier is not None:
            await self.notifier.aclose()
        if self._mcp:
            await self._mcp.aclose()
        for persisted in self._persist.flush():
            self.store.append_event(persisted)
        await self.io(self.presence.close)
        if self._client is not None:
            await self._client.aclose()
        self.bus.close()

    # --- collaborators, loaded when first used --------------------------------------

    @property
    def client(self) -> LLMClient:
        if self._client is None:
            from opscopilot.llm.client import LLMClient

            self._client = LLMClient()
        return self._client

    @property
    def tools(self) -> Any:
        if self._tools is None:
            from opscopilot.tools import ToolRegistry

            self._tools = ToolRegistry.default(config.config())
        return self._tools

    @property
    def mcp(self) -> Any:
        """The configured MCP servers (None without any: the SDK is then never imported)."""
        if self._mcp is None:
            from opscopilot.mcp import McpServers

            self._mcp = McpServers.from_config(config.config(), config.data_dir()) or False
        return self._mcp or None

    @property
    def system_prompt(self) -> str:
        note = self._mcp.unavailable_note() if self._mcp else None
        return f"{self.base_system_prompt}\n\n{note}" if note else self.base_system_prompt

    async def prepare_tools(self, live: LiveTurn, *, for_call: bool = True) -> None:
        """Start the MCP servers this turn needs (lazily, in parallel) and offer their tools;
        a model call waits only for servers whose tools are not known from an earlier listing."""
        servers = self.mcp
        if servers is None:
            return
        for line in await servers.prepare(live.state.turn_id, live=for_call):
            live.publish(
                Notice(
                    ts=self.clock(),
                    session_id=live.state.session_id,
                    turn_id=live.state.turn_id,
                    level="warning",
                    message=redact(line),
                )
            )
        self.tools.set_extra(servers.tools())

    def tool_specs(self) -> list[ToolSpec]:
        return list(self.tools.specs())

    def classify_call(self, name: str, arguments: dict[str, Any]) -> Any:
        from opscopilot.tools import classify

        return classify(name, arguments, registry=self.tools)

    def policy_decision(self, classification: Any, mode: str, rules: Any) -> Any:
        from opscopilot.tools import decide

        return decide(classification, mode, rules)

    def policy_rules(self, session_id: str) -> Any:
        """Deny/allow rules from config.toml plus the session's always-allow rules."""
        from opscopilot.tools import Rules

        session_rules = self.store.list_allow_rules(session_id)
        return Rules.from_config(config.config()).with_session(session_rules)

    async def io(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking store call off the event loop."""
        return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))

    # --- publishing ----------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """To the bus as is; to the Store in redacted chunks (see runtime/persist.py)."""
        self.bus.publish(event)
        for persisted in self._persist.feed(event):
            self.store.append_event(persisted)

    # --- turns ---------------------------------------------------------------------

    async def start_turn(
        self,
        session_id: str | None,
        prompt: str,
        *,
        model: str | None = None,
        approve_mode: str = "ask",
        max_cost: float | None = None,
        wait_for_approval: bool = False,
    ) -> TurnOutcome:
        """Start a turn (in a new session when session_id is None) and drive it as far as it goes."""
        if approve_mode not in APPROVE_MODES:
            raise RuntimeFailure("usage", f"--approve must be one of {', '.join(APPROVE_MODES)}")
        if not prompt.strip():
            raise RuntimeFailure("usage", "the prompt is empty")
        model = model or config.default_model()
        ModelSpec.parse_chain(model)  # a bad spec is a usage error before anything is stored
        now = self.clock()
        if session_id is None:
            session_id = new_id("s")
            await self.io(self.store.create_session, session_id, model, prompt[:80], now)
            self.publish(
                SessionStarted(
                    ts=now, session_id=session_id, model=model, title=redact(prompt[:80])
                )
            )
        elif await self.io(self.store.get_session, session_id) is None:
            raise RuntimeFailure("not_found", f"no session {session_id}")
        turn_id = new_id("t")
        history = await self.io(self._history, session_id, turn_id)
        await self.io(
            self.store.create_turn,
            turn_id,
            session_id,
            prompt,
            model,
            now,
            options={"approve_mode": approve_mode, "max_cost": max_cost},
        )
        live = LiveTurn(
            state=TurnState(),
            history=history,
            publish=self.publish,
            wait_for_approval=wait_for_approval,
            priority=self.priority,
        )
        await self._claim(turn_id)
        return await self._drive(
            live,
            TurnRequested(
                turn_id=turn_id,
                session_id=session_id,
                prompt=prompt,
                model=model,
                now=now,
                approve_mode=approve_mode,  # type: ignore[arg-type]
                max_model_calls=self.max_model_calls,
                model_retries=self.model_retries,
                max_cost=max_cost,
            ),
        )

    async def resume(self, turn_id: str, *, wait_for_approval: bool = False) -> TurnOutcome:
        """Continue a paused or interrupted turn from its last snapshot.

        Refused (RuntimeFailure "owned") while another live process owns the turn.
        """
        if turn_id in self._live:
            raise RuntimeFailure("busy", f"turn {turn_id} is already running in this process")
        if await self.io(self.store.get_turn, turn_id) is None:
            raise RuntimeFailure("not_found", f"no turn {turn_id}")
        await self._claim(turn_id)
        try:
            live = await self._load(turn_id, wait_for_approval)
        except BaseException:
            await self._release(turn_id)
            raise
        if live.state.terminal:
            # Killed after the last checkpoint but before its messages were stored.
            await self.io(self._sync_messages, live.state)
            await self._release(turn_id)
            return TurnOutcome.from_state(live.state)
        return await self._drive(live, Resumed(now=self.clock()))

    async def cancel(self, turn_id: str, reason: str = "cancelled by the operator") -> TurnOutcome:
        """Stop a turn: the live one in this process at once, or a paused one in the store."""
        live = self._live.get(turn_id)
        if live is not None:
            live.cancel_reason = reason
            if live.scope is not None:
                live.scope.cancel()
            live.wake.set()
            return TurnOutcome.from_state(live.state)
        if await self.io(self.store.get_turn, turn_id) is None:
            raise RuntimeFailure("not_found", f"no turn {turn_id}")
        await self._claim(turn_id)
        try:
            live = await self._load(turn_id, False)
        except BaseException:
            await self._release(turn_id)
            raise
        if live.state.terminal:
            await self._release(turn_id)
            return TurnOutcome.from_state(live.state)
        return await self._drive(live, Cancel(now=self.clock(), reason=reason))

    async def decide(
        self,
        approval_id: str,
        decision: str,
        *,
        operator: str | None = None,
        reason: str = "",
        arguments: dict[str, Any] | None = None,
        channel: str = "tui",
    ) -> ApprovalRecord:
        """Record an operator's decision (the TUI's keys call this) and wake a waiting turn."""
        from opscopilot.tools import call_hash

        record = await self.io(self.store.get_approval, approval_id)
        if record is None:
            raise RuntimeFailure("not_found", f"no approval {approval_id}")
        edited_hash = None
        if arguments is not None:
            self.tools.get(record.tool).validate(arguments)
            edited_hash = call_hash(record.tool, arguments)
        decided = await self.io(
            self.store.decide_approval,
            approval_id,
            decision=decision,
            operator=operator or operator_name(),
            host=socket.gethostname(),
            reason=reason,
            arguments=arguments,
            decided_at=self.clock(),
            call_hash_of_edit=edited_hash,
            channel=channel,
        )
        live = self._live.get(record.turn_id)
        if live is not None:
            live.wake.set()
        return decided

    async def allow_always(self, session_id: str, tool: str, command: str | None = None) -> int:
        """An operator's "always allow" for this session (a tool, or one exact command)."""
        return await self.io(
            self.store.add_allow_rule,
            session_id,
            tool=tool,
            command=command,
            created_at=self.clock(),
        )

    def live_turns(self) -> list[str]:
        return list(self._live)

    # --- ownership -----------------------------------------------------------------

    async def _claim(self, turn_id: str) -> None:
        """Own the turn for as long as this process drives it; refused while another lives."""
        from opscopilot.store import TurnOwnedError

        try:
            await self.io(self.presence.claim, turn_id)
        except TurnOwnedError as exc:
            raise RuntimeFailure(
                "owned",
                f"{exc}; it continues there when its approvals are decided "
                "(resume it once that process has stopped)",
            ) from None

    async def _release(self, turn_id: str) -> None:
        with anyio.CancelScope(shield=True):
            await self.io(self.presence.release, turn_id)

    # --- the loop ------------------------------------------------------------------

    async def _load(self, turn_id: str, wait_for_approval: bool) -> LiveTurn:
        turn = await self.io(self.store.get_turn, turn_id)
        if turn is None:
            raise RuntimeFailure("not_found", f"no turn {turn_id}")
        snapshot = await self.io(self.store.load_snapshot, turn_id)
        history = await self.io(self._history, turn.session_id, turn_id)
        live = LiveTurn(
            state=TurnState(),
            history=history,
            publish=self.publish,
            wait_for_approval=wait_for_approval,
            priority=self.priority,
        )
        if snapshot is None:
            # Killed before the first checkpoint: nothing ran yet, so start it afresh.
            live.state, _ = cmd(
                TurnState(),
                TurnRequested(
                    turn_id=turn.id,
                    session_id=turn.session_id,
                    prompt=turn.prompt,
                    model=turn.model,
                    now=self.clock(),
                    max_model_calls=self.max_model_calls,
                    model_retries=self.model_retries,
                    approve_mode=turn.options.get("approve_mode", "ask"),
                    max_cost=turn.options.get("max_cost"),
                ),
            )
            await self._checkpoint(live, TurnState())
            return live
        live.state = TurnState.from_snapshot(snapshot)
        return live

    def _history(self, session_id: str, turn_id: str) -> list[Message]:
        """The conversation of the session's earlier turns, in order."""
        messages: list[Message] = []
        for turn in self.store.list_turns(session_id):
            if turn.id == turn_id:
                break
            messages += self.store.messages(session_id, turn_id=turn.id)
        return messages

    async def _drive(self, live: LiveTurn, first: Action) -> TurnOutcome:
        turn_id = first.turn_id if isinstance(first, TurnRequested) else live.state.turn_id
        if turn_id in self._live:
            raise RuntimeFailure("busy", f"turn {turn_id} is already running in this process")
        self._live[turn_id] = live
        self.driven_turns.add(turn_id)
        queue: deque[Directive] = deque()
        if live.wait_for_approval:
            token = anyio.lowlevel.current_token()

            def wake() -> None:  # called from the presence thread
                try:
                    anyio.from_thread.run_sync(lambda: live.wake.set(), token=token)
                except RuntimeError:
                    pass  # the event loop is gone: nobody waits any more

            self.presence.watch(turn_id, wake)
        try:
            await self._apply(live, first, queue)
            if self.governed and not live.state.terminal:
                live.governor = await self._governor(live)
            with anyio.CancelScope() as scope:
                live.scope = scope
                await self._run_queue(live, queue)
            if live.cancel_reason is not None and not live.state.terminal:
                queue.clear()
                await self._apply(live, Cancel(now=self.clock(), reason=live.cancel_reason), queue)
                await self._run_queue(live, queue)
        finally:
            self._live.pop(turn_id, None)
            self.presence.unwatch(turn_id)
            if live.governor is not None:
                live.governor.close()
            await self._release(turn_id)
        return TurnOutcome.from_state(live.state)

    async def _governor(self, live: LiveTurn) -> Governor | None:
        from opscopilot.governance import Governor

        def publish(event: Event) -> None:
            live.publish(call_of_attempt(event))

        return await self.io(
            lambda: Governor.open(
                flag_max_cost=live.state.max_cost,
                flag_scope="turn",
                publish=publish,
                ledger_path=self.store.path,
            )
        )

    async def _run_queue(self, live: LiveTurn, queue: deque[Directive]) -> None:
        while True:
            # A fresh wake before decisions are read: one committed after the read sets it.
            live.wake = anyio.Event()
            while queue:
                directive = queue.popleft()
                for action in await self._execute(live, directive):
                    await self._apply(live, action, queue)
            state = live.state
            if state.status != "awaiting_approval" or not live.wait_for_approval:
                return
            if live.cancel_reason is not None or not self.presence.holds(state.turn_id):
                return  # cancelled, or another process took the turn over
            if not live.wake.is_set():
                timeout = APPROVAL_RECHECK_S
                if live.next_deadline is not None:
                    timeout = min(timeout, max(live.next_deadline - self.clock(), 0.0))
                with anyio.move_on_after(timeout):
                    await live.wake.wait()
            queue.append(WaitForApproval(approval_ids=tuple(state.pending_approvals)))

    async def _apply(self, live: LiveTurn, action: Action, queue: deque[Directive]) -> None:
        before = live.state
        after, directives = cmd(before, action)
        if after is not before:
            live.state = after
            await self._checkpoint(live, before)
        queue.extend(directives)

    async def _checkpoint(self, live: LiveTurn, before: TurnState) -> None:
        """Save the snapshot (durable) and, when the status moved, the turn's row."""
        state = live.state
        now = self.clock()
        snapshot = _redacted(state.to_snapshot())
        await self.io(self.store.save_snapshot, state.turn_id, snapshot, now)
        if state.status != before.status or state.terminal:
            await self.io(
                self.store.update_turn,
                state.turn_id,
                status=state.status,
                updated_at=now,
                text=redact(state.text),
                usage=state.usage,
                cost_usd=state.cost_usd,
                error=state.error,
            )

    async def _execute(self, live: LiveTurn, directive: Directive) -> list[Action]:
        if isinstance(directive, Emit):
            live.publish(directive.event)
        elif isinstance(directive, RecordMessage):
            await self.io(self._sync_messages, live.state)
        elif isinstance(directive, CallModel):
            await self.prepare_tools(live, for_call=False)
            return [await call_model(self, live, directive)]
        elif isinstance(directive, ClassifyTools):
            await self.prepare_tools(live)
            return [await classify_calls(self, live, directive)]
        elif isinstance(directive, RequestApproval):
            await request_approval(self, live, directive)
        elif isinstance(directive, RunTool):
            await self.prepare_tools(live)
            return [await run_tool(self, live, directive)]
        elif isinstance(directive, WaitForApproval):
            actions, live.next_deadline = await self.io(self._decisions, directive.approval_ids)
            return actions
        elif isinstance(directive, ScheduleRetry):
            await anyio.sleep(directive.delay_s)
            return [RetryDue(call_id=directive.call_id, now=self.clock())]
        return []

    def _sync_messages(self, state: TurnState) -> None:
        """Append the turn's messages the store does not have yet (idempotent after a crash)."""
        stored = len(self.store.messages(state.session_id, turn_id=state.turn_id))
        for message in state.messages[stored:]:
            self.store.append_message(state.session_id, state.turn_id, message, self.clock())

    def _decisions(self, approval_ids: tuple[str, ...]) -> tuple[list[Action], float | None]:
        """Decisions made so far (from any process), and expiries now due, as actions; and
        the earliest deadline of those still pending."""
        from opscopilot.store import StoreError
        from opscopilot.store.expiry import on_expiry

        actions: list[Action] = []
        now = self.clock()
        record_lapsed = on_expiry() == "deny"  # "keep": a lapsed one waits for a person
        deadlines: list[float] = []
        for approval_id in approval_ids:
            record = self.store.get_approval(approval_id)
            if record is None:
                continue
            if record_lapsed and record.status == "pending" and record.expires_at is not None:
                deadlines.append(record.expires_at)  # wake then, to record the expiry
            if record_lapsed and record.expired_at(now):
                try:
                    record = self.store.decide_approval(
                        approval_id,
                        decision="expired",
                        operator="opscopilot",
                        host=socket.gethostname(),
                        reason="no decision in time",
                        decided_at=now,
                        channel="runtime",
                    )
                except StoreError as exc:
                    if exc.kind != "conflict":
                        raise
                    record = self.store.get_approval(approval_id)
                    assert record is not None
            if record.status in ("approved", "denied"):
                edited = record.edited_arguments if record.status == "approved" else None
                actions.append(
                    ApprovalDecided(
                        approval_id=approval_id,
                        decision=record.status,
                        call_hash=record.call_hash,
                        now=now,
                        arguments=edited,
                        reason=record.decision_reason,
                        operator=record.operator or "",
                        host=record.host or "",
                        channel=record.channel or "",
                    )
                )
            elif record.status == "expired":
                waited = (record.expires_at or now) - record.requested_at
                actions.append(
                    ApprovalExpired(approval_id=approval_id, now=now, after_s=round(waited, 1))
                )
        return actions, min(deadlines, default=None)
