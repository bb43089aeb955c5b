"""The loop of a turn: execute a directive, feed what happened back to `cmd` as an action,
checkpoint the new state, queue the new directives, until the turn ends or waits.

`TurnDriver` is handed its collaborators (the store, this runtime's presence, the model
caller, the tool caller, the toolbox) and imports none of the runtime's facade. It keeps the
turns driven in this process; claims go through the presence, so no two processes drive
one turn.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from opscopilot.agent import (
    Action,
    CallModel,
    Cancel,
    ClassifyTools,
    Directive,
    Emit,
    RecordMessage,
    RequestApproval,
    RetryDue,
    RunTool,
    ScheduleRetry,
    TurnRequested,
    TurnState,
    WaitForApproval,
    cmd,
)
from opscopilot.events import Event, Notice
from opscopilot.llm.types import Message
from opscopilot.redact import redact

from .decisions import read_decisions
from .errors import RuntimeFailure
from .live import LiveTurn, io, redacted
from .model_calls import call_of_attempt
from .outcome import TurnOutcome

if TYPE_CHECKING:
    from opscopilot.governance import Governor
    from opscopilot.governance.ledger import Ledger
    from opscopilot.store import ApprovalRecord, Store

    from .model_calls import ModelCaller
    from .presence import Presence
    from .tool_calls import ToolCaller
    from .toolbox import Toolbox

# A waiting turn is woken by the store's change watch when a decision is committed anywhere;
# it also looks this often on its own (and at each deadline), in case a wake-up was missed.
APPROVAL_RECHECK_S = 5.0
# Sessions whose decoded history stays in memory between turns (the TUI's panes, a resumed
# ticket): the rest decode theirs from the store again if they get another turn.
HISTORIES_KEPT = 8


class TurnDriver:
    """Drives turns to their end or their next wait, one loop per turn."""

    def __init__(
        self,
        store: Store,
        presence: Presence,
        *,
        models: ModelCaller,
        tools: ToolCaller,
        toolbox: Toolbox,
        clock: Callable[[], float],
        governed: bool = True,
    ) -> None:
        self.store = store
        self.presence = presence
        self.models = models
        self.tools = tools
        self.toolbox = toolbox
        self.clock = clock
        self.governed = governed
        self.live: dict[str, LiveTurn] = {}
        self.driven: set[str] = set()  # every turn driven here (its events are ours)
        self._ledger: Ledger | None = None
        self._ledger_lock = threading.Lock()
        self._histories: OrderedDict[str, dict[int, Message]] = OrderedDict()
        self._histories_lock = threading.Lock()  # history() runs in worker threads

    # --- ownership -----------------------------------------------------------------

    async def claim(self, turn_id: str) -> None:
        """Own the turn for as long as this process drives it; refused while another lives."""
        from opscopilot.store import TurnOwnedError

        try:
            await io(self.presence.claim, turn_id)
        except TurnOwnedError as exc:
            raise RuntimeFailure(
                "owned",
                f"{exc}; it continues there when its approvals are decided "
                "(resume it once that process has stopped)",
            ) from None

    async def release(self, turn_id: str) -> None:
        with anyio.CancelScope(shield=True):
            await io(self.presence.release, turn_id)

    # --- loading a stored turn -------------------------------------------------------

    async def load(
        self,
        turn_id: str,
        *,
        publish: Callable[[Event], None],
        wait_for_approval: bool,
        priority: str,
        max_model_calls: int,
        model_retries: int,
    ) -> LiveTurn:
        """The turn as its last snapshot left it (started afresh when it has none)."""
        turn = await io(self.store.get_turn, turn_id)
        if turn is None:
            raise RuntimeFailure("not_found", f"no turn {turn_id}")
        snapshot = await io(self.store.load_snapshot, turn_id)
        history = await io(self.history, turn.session_id, turn_id)
        live = LiveTurn(
            state=TurnState(),
            history=history,
            publish=publish,
            wait_for_approval=wait_for_approval,
            priority=priority,
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
                    max_model_calls=max_model_calls,
                    model_retries=model_retries,
                    approve_mode=turn.options.get("approve_mode", "ask"),
                    max_cost=turn.options.get("max_cost"),
                ),
            )
            await self._checkpoint(live, TurnState())
            return live
        live.state = TurnState.from_snapshot(snapshot)
        return live

    def history(self, session_id: str, turn_id: str) -> list[Message]:
        """The conversation of the session's earlier turns, in order (blocking).

        The last few sessions' decoded messages stay in memory, so a turn decodes only what
        was added since its session's previous turn: a long session's turns start in the same
        time as its first ones, and the collector is not handed the whole history each turn.
        """
        with self._histories_lock:
            known = self._histories.pop(session_id, None)
        messages = self.store.messages_before(session_id, turn_id, known)
        if messages:
            with self._histories_lock:
                self._histories[session_id] = messages
                while len(self._histories) > HISTORIES_KEPT:
                    self._histories.popitem(last=False)
        return list(messages.values())

    def sync_messages(self, state: TurnState) -> None:
        """Append the turn's messages the store does not have yet (idempotent after a crash)."""
        stored = self.store.count_messages(state.session_id, state.turn_id)
        for message in state.messages[stored:]:
            self.store.append_message(state.session_id, state.turn_id, message, self.clock())

    # --- the loop ------------------------------------------------------------------

    async def drive(self, live: LiveTurn, first: Action) -> TurnOutcome:
        """Run the turn from `first` until it ends or waits; the claim is released after."""
        turn_id = first.turn_id if isinstance(first, TurnRequested) else live.state.turn_id
        if turn_id in self.live:
            raise RuntimeFailure("busy", f"turn {turn_id} is already running in this process")
        self.live[turn_id] = live
        self.driven.add(turn_id)
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
            self.live.pop(turn_id, None)
            self.presence.unwatch(turn_id)
            if live.governor is not None:
                live.governor.close()
            await self.release(turn_id)
        return TurnOutcome.from_state(live.state)

    async def _governor(self, live: LiveTurn) -> Governor | None:
        from opscopilot.governance import Governor

        def publish(event: Event) -> None:
            live.publish(call_of_attempt(event))

        return await io(
            lambda: Governor.open(
                flag_max_cost=live.state.max_cost,
                flag_scope="turn",
                publish=publish,
                ledger=self._shared_ledger(),
            )
        )

    def _shared_ledger(self) -> Ledger:
        """The ledger every turn of this runtime is governed through, opened for the first
        (blocking): a connection of its own per turn cost each batch ticket a round of
        connect, authentication and schema checks on a team store."""
        with self._ledger_lock:
            if self._ledger is None:
                from opscopilot.governance.ledger import Ledger

                self._ledger = Ledger(self.store.path)
            return self._ledger

    def close(self) -> None:
        """Close the shared ledger (blocking)."""
        with self._ledger_lock:
            ledger, self._ledger = self._ledger, None
        if ledger is not None:
            ledger.close()

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
        snapshot = redacted(state.to_snapshot())
        await io(self.store.save_snapshot, state.turn_id, snapshot, now)
        if state.status != before.status or state.terminal:
            await io(
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
            await io(self.sync_messages, live.state)
        elif isinstance(directive, CallModel):
            await self.toolbox.prepare(live, for_call=False)
            return [await self.models.call(live, directive)]
        elif isinstance(directive, ClassifyTools):
            await self.toolbox.prepare(live)
            return [await self.tools.classify(live, directive)]
        elif isinstance(directive, RequestApproval):
            await self.tools.request_approval(live, directive)
        elif isinstance(directive, RunTool):
            await self.toolbox.prepare(live)
            return [await self.tools.run(live, directive)]
        elif isinstance(directive, WaitForApproval):
            return await self._decisions(live, directive.approval_ids)
        elif isinstance(directive, ScheduleRetry):
            await anyio.sleep(directive.delay_s)
            return [RetryDue(call_id=directive.call_id, now=self.clock())]
        return []

    async def _decisions(self, live: LiveTurn, approval_ids: tuple[str, ...]) -> list[Action]:
        from opscopilot.store.expiry import on_expiry

        record_lapsed = on_expiry() == "deny"
        found = await io(
            read_decisions, self.store, approval_ids, self.clock(), record_lapsed=record_lapsed
        )
        live.next_deadline = found.next_deadline
        for record in found.lapsed_kept:
            if record.id not in live.told_lapsed:
                live.told_lapsed.add(record.id)
                live.publish(_kept_notice(record, self.clock()))
        return found.actions


def _kept_notice(record: ApprovalRecord, now: float) -> Notice:
    """What a turn says when one of its approvals lapses under on_expiry "keep"."""
    from opscopilot.store.approvals import when

    deadline = when(record.expires_at) if record.expires_at is not None else "its deadline"
    return Notice(
        ts=now,
        session_id=record.session_id,
        turn_id=record.turn_id,
        level="warning",
        message=(
            f"approval {record.id} ({record.tool}) expired at {deadline} without a decision; "
            'on_expiry = "keep": the turn stays paused until someone decides it '
            "(that records the expiry, and the turn goes on without the call)"
        ),
    )
