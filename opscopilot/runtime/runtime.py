"""The runtime: owns time, ids and I/O, and interprets the pure core's directives.

`Runtime` is the facade the CLI, the TUI, batch and the web page use: start, resume, cancel
and decide turns. It builds its collaborators once and hands each what it needs (one
direction of imports, nothing here is imported back):

- `TurnDriver` (driver.py): the loop of a turn, its checkpoints and claims;
- `ModelCaller` (model_calls.py): one journaled, governed, streamed model call;
- `ToolCaller` (tool_calls.py): classify proposed calls, request approvals, run tools;
- `Toolbox` (toolbox.py): the tool registry, MCP servers and policy, loaded when first used;
- `Presence` (presence.py): claims, heartbeat and wake-ups from the store's change watch.

A turn that waits for an operator is a snapshot, not a blocked coroutine: `start_turn`
returns (status awaiting_approval) unless asked to wait, and `resume` picks the snapshot up
from any process. Every event goes to the Store and to the in-process EventBus.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opscopilot import config
from opscopilot.agent import Cancel, Resumed, TurnRequested, TurnState
from opscopilot.events import Event, SessionStarted
from opscopilot.llm.types import ModelSpec
from opscopilot.redact import redact

from .bus import EventBus
from .driver import TurnDriver
from .errors import RuntimeFailure
from .live import LiveTurn, io, new_id, operator_name
from .model_calls import SYSTEM_PROMPT, ModelCaller
from .outcome import TurnOutcome
from .persist import PersistFilter
from .presence import Presence
from .tool_calls import ToolCaller
from .toolbox import Toolbox

if TYPE_CHECKING:
    from opscopilot.llm.client import LLMClient
    from opscopilot.store import ApprovalRecord, Store

APPROVE_MODES = ("ask", "read-only", "all", "none")
DEFAULT_MAX_MODEL_CALLS = 8


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
        self.priority = priority
        self._persist = PersistFilter()
        agent_section = config.section("agent")
        self.max_model_calls = int(agent_section.get("max_model_calls", DEFAULT_MAX_MODEL_CALLS))
        self.model_retries = int(agent_section.get("model_retries", 0))
        if self.max_model_calls < 1:
            raise config.ConfigError(
                f"{config.config_path()}: [agent] max_model_calls must be at least 1"
            )
        self.notifier: Any = None  # [notify]: tells someone when an approval is requested
        if config.section("notify"):
            from opscopilot.web.notify import Notifier

            self.notifier = Notifier.from_config(self.publish)
        from opscopilot.store.owners import OwnerIdentity

        # Who this runtime is when it claims a turn: tui, batch, resume or run.
        kind = owner_kind or ("batch" if priority == "batch" else "run")
        self.presence = Presence(store, OwnerIdentity(kind=kind, operator=operator_name()))
        self.toolbox = Toolbox(store, clock)
        self._driver = TurnDriver(
            store,
            self.presence,
            models=ModelCaller(
                store, lambda: self.client, self.toolbox, clock=clock, system_prompt=system_prompt
            ),
            tools=ToolCaller(store, self.toolbox, clock=clock, notifier=self.notifier),
            toolbox=self.toolbox,
            clock=clock,
            governed=governed,
        )

    @classmethod
    def open(cls, **options: Any) -> Runtime:
        """A runtime on the default database (config.db_path())."""
        from opscopilot.store import Store

        return cls(Store.open(), **options)

    async def aclose(self) -> None:
        if self.notifier is not None:
            await self.notifier.aclose()
        await self.toolbox.aclose()
        for persisted in self._persist.flush():
            self.store.append_event(persisted)
        await io(self.presence.close)
        await io(self._driver.close)
        if self._client is not None:
            await self._client.aclose()
        self.bus.close()

    @property
    def client(self) -> LLMClient:
        """The LLM client (created when the first model call needs it)."""
        if self._client is None:
            from opscopilot.llm.client import LLMClient

            self._client = LLMClient()
        return self._client

    @property
    def mcp(self) -> Any:
        """The configured MCP servers (None without any: the SDK is then never imported)."""
        return self.toolbox.mcp

    @property
    def driven_turns(self) -> set[str]:
        """Every turn this runtime drove (its events are ours)."""
        return self._driver.driven

    async def io(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking store call off the event loop."""
        return await io(function, *args, **kwargs)

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
            await io(self.store.create_session, session_id, model, prompt[:80], now)
            self.publish(
                SessionStarted(
                    ts=now, session_id=session_id, model=model, title=redact(prompt[:80])
                )
            )
        elif await io(self.store.get_session, session_id) is None:
            raise RuntimeFailure("not_found", f"no session {session_id}")
        turn_id = new_id("t")
        history = await io(self._driver.history, session_id, turn_id)
        await io(
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
        await self._driver.claim(turn_id)
        return await self._driver.drive(
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
        if turn_id in self._driver.live:
            raise RuntimeFailure("busy", f"turn {turn_id} is already running in this process")
        if await io(self.store.get_turn, turn_id) is None:
            raise RuntimeFailure("not_found", f"no turn {turn_id}")
        await self._driver.claim(turn_id)
        try:
            live = await self._load(turn_id, wait_for_approval=wait_for_approval)
        except BaseException:
            await self._driver.release(turn_id)
            raise
        if live.state.terminal:
            # Killed after the last checkpoint but before its messages were stored.
            await io(self._driver.sync_messages, live.state)
            await self._driver.release(turn_id)
            return TurnOutcome.from_state(live.state)
        return await self._driver.drive(live, Resumed(now=self.clock()))

    async def cancel(self, turn_id: str, reason: str = "cancelled by the operator") -> TurnOutcome:
        """Stop a turn: the live one in this process at once, or a paused one in the store."""
        live = self._driver.live.get(turn_id)
        if live is not None:
            live.cancel_reason = reason
            if live.scope is not None:
                live.scope.cancel()
            live.wake.set()
            return TurnOutcome.from_state(live.state)
        if await io(self.store.get_turn, turn_id) is None:
            raise RuntimeFailure("not_found", f"no turn {turn_id}")
        await self._driver.claim(turn_id)
        try:
            live = await self._load(turn_id, wait_for_approval=False)
        except BaseException:
            await self._driver.release(turn_id)
            raise
        if live.state.terminal:
            await self._driver.release(turn_id)
            return TurnOutcome.from_state(live.state)
        return await self._driver.drive(live, Cancel(now=self.clock(), reason=reason))

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

        record = await io(self.store.get_approval, approval_id)
        if record is None:
            raise RuntimeFailure("not_found", f"no approval {approval_id}")
        edited_hash = None
        if arguments is not None:
            self.toolbox.get(record.tool).validate(arguments)
            edited_hash = call_hash(record.tool, arguments)
        decided = await io(
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
        live = self._driver.live.get(record.turn_id)
        if live is not None:
            live.wake.set()
        return decided

    async def allow_always(self, session_id: str, tool: str, command: str | None = None) -> int:
        """An operator's "always allow" for this session (a tool, or one exact command)."""
        return await io(
            self.store.add_allow_rule,
            session_id,
            tool=tool,
            command=command,
            created_at=self.clock(),
        )

    def live_turns(self) -> list[str]:
        return list(self._driver.live)

    async def _load(self, turn_id: str, *, wait_for_approval: bool) -> LiveTurn:
        return await self._driver.load(
            turn_id,
            publish=self.publish,
            wait_for_approval=wait_for_approval,
            priority=self.priority,
            max_model_calls=self.max_model_calls,
            model_retries=self.model_retries,
        )
