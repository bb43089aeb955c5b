"""The opscopilot TUI: conversation panes, meters, pending reviews, event log.

A view over the engine: workers talk to the engine and post messages; handlers own state
and route each event of opscopilot/events.py to the pane of its session. Panes, themes and
keys, and the approval flow are mixins in panes.py, appearance.py and approval_flow.py.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from opscopilot import config
from opscopilot import events as ev
from opscopilot.redact import redact
from opscopilot.tui import theming
from opscopilot.tui.appearance import Appearance
from opscopilot.tui.approval_flow import ApprovalFlow
from opscopilot.tui.bindings import APP_ACTIONS, KeyAction, app_bindings
from opscopilot.tui.commands import OpsCommands
from opscopilot.tui.engine import Engine, EngineError
from opscopilot.tui.panes import MAX_PANES, PaneActions
from opscopilot.tui.spend import QueueTracker, Scope, SpendTracker
from opscopilot.tui.widgets.conversation import ConversationPane
from opscopilot.tui.widgets.event_log import EventLog
from opscopilot.tui.widgets.footer import KeysFooter
from opscopilot.tui.widgets.meters import CostMeter, QueueMeter
from opscopilot.tui.widgets.reviews import ReviewList, ReviewsPanel

__all__ = ["MAX_PANES", "EngineEvent", "EventsArrived", "OpsCopilotApp", "create_app"]

APP_TITLE = "opscopilot"
NOTICE_SEVERITY = {"info": "information", "warning": "warning", "error": "error"}
# Per-token events: they change a pane's text, never which keys apply or what meters show.
STREAMING_DELTAS = (ev.ModelText, ev.ModelThinking, ev.ToolOutput)
# Frequent events that change no key's availability: the footer is not recomposed for them.
_STREAMED = (*STREAMING_DELTAS, ev.ModelUsage, ev.SchedulerMetrics)


@dataclass
class EngineEvent(Message):
    """One event to render (history loaded from the store)."""

    event: ev.Event


NARROW_COLUMNS = 100  # below this the top bar drops the title and the meters shorten
# With a store that reports changes, approvals are re-read on each; this slow refresh only
# catches what no write announces (an approval whose deadline passed under on_expiry "keep").
SAFETY_REFRESH_S = 30.0


class EventsArrived(Message):
    """The engine published events since the app last looked: they wait in its inbox."""


YOUNG_GC_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)


class OpsCopilotApp(Appearance, PaneActions, ApprovalFlow, App[None]):
    """The operator's copilot; build it with `create_app`."""

    CSS = """
    #top-bar { height: 1; padding: 0 1; background: $panel; }
    #queue-meter { padding: 0 1; background: $panel; }
    #title { width: auto; text-style: bold; padding: 0 2 0 0; }
    #title.-alert { color: $warning; text-style: bold reverse; }
    #top-bar.-narrow #title { display: none; }
    #panes { height: 1fr; }
    #prompt { dock: bottom; margin: 0 0 1 0; }
    #prompt.-broadcast { border: tall $accent; }
    """
    KEY_ACTIONS: ClassVar[tuple[KeyAction, ...]] = APP_ACTIONS
    BINDINGS = app_bindings(APP_ACTIONS)
    COMMANDS = App.COMMANDS | {OpsCommands}
    TITLE = APP_TITLE

    def __init__(
        self,
        engine: Engine,
        *,
        model: str,
        theme: str | None = None,
        session_id: str | None = None,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[str], str] | None = None,
        poll_interval: float = 1.0,
        caps: dict[Scope, float | None] | None = None,
        spent_today: float = 0.0,
        keys: dict[str, Any] | None = None,
        deterministic: bool = False,
        tune_gc: bool = False,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.default_model = model
        self.requested_theme = theme
        self.initial_session = session_id
        self.clock = clock
        # The runtime's id shape (s-…, as `opscopilot run` and `sessions list` show them).
        self.new_id = new_id or (lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}")
        self.poll_interval = poll_interval
        self.keys_config = keys
        self.deterministic = deterministic
        self.tune_gc = tune_gc
        self.caps = dict(caps or {})
        self.spent_today = spent_today
        self.spend = SpendTracker(caps=dict(self.caps), spent_today_before=spent_today)
        self.queue = QueueTracker()
        self.broadcast = False
        self.active_pane_id: str | None = None
        self.opscopilot_theme_names: list[str] = []
        self.keymap: dict[str, str] = {}
        self.alerts = 0
        self._inbox: list[ev.Event] = []  # live events not yet rendered (see pump_events)
        # Held directly so the per-event path never queries the screen's DOM (which holds
        # every Markdown block of every answer).
        self.pane_row = Horizontal(id="panes")
        self.event_log = EventLog()
        self.cost_meter = CostMeter(id="cost-meter")
        self.queue_meter = QueueMeter("queue: idle", id="queue-meter")
        self._init_approval_flow()

    # --- layout -----------------------------------------------------------------------

    @property
    def main_screen(self) -> Screen:
        """The screen holding the panes (dialogs stack above it)."""
        return self.screen_stack[0]

    def compose(self) -> ComposeResult:
        with Horizontal(id="top-bar"):
            yield Static(APP_TITLE, id="title")
            yield self.cost_meter
        yield self.queue_meter
        yield ReviewsPanel(id="reviews")
        yield self.pane_row
        yield self.event_log
        yield Input(placeholder=self._prompt_placeholder(), id="prompt")
        yield KeysFooter(compact=True)

    async def on_mount(self) -> None:
        self._load_themes()
        self._load_keymap()
        if self.deterministic:
            self.main_screen.query_one("#prompt", Input).cursor_blink = False
        pane = await self.open_pane(self.initial_session, self.default_model)
        if self.initial_session:
            self.load_history(pane.session_id)
        self.start_focus()
        self._fit_width(self.size.width)
        self._refresh_meters()
        self.pump_events()
        self.pump_foreign_events()
        self.pump_metrics()
        self.poll_approvals()
        if getattr(self.engine, "approval_changes", None) is not None:
            self.pump_approval_changes()  # re-read when the store says so, not on a timer
            self.set_interval(SAFETY_REFRESH_S, self.poll_approvals)
        else:
            self.set_interval(self.poll_interval, self.poll_approvals)
        self.set_interval(1.0, self._refresh_queue_meter)
        if self.tune_gc:
            self.call_after_refresh(tune_collector)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_width(event.size.width)

    def _fit_width(self, width: int) -> None:
        """Below 100 columns the title gives its room to the meters, which shorten."""
        narrow = width < NARROW_COLUMNS
        for bar in self.main_screen.query("#top-bar"):
            bar.set_class(narrow, "-narrow")
        if self.cost_meter.narrow != narrow:
            self.cost_meter.narrow = narrow
            if self.is_mounted:
                self._refresh_meters()

    def start_focus(self) -> None:
        """Where focus starts (subclasses change it: Textual calls every class's on_mount)."""
        self.main_screen.query_one("#prompt", Input).focus()

    async def on_unmount(self) -> None:
        await self.engine.aclose()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **theming.VARIABLE_DEFAULTS}

    # --- prompts and turns ------------------------------------------------------------

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, message: Input.Submitted) -> None:
        prompt = message.value.strip()
        if not prompt:
            return
        targets = self.panes if self.broadcast else [p for p in [self.active_pane] if p]
        idle = [pane for pane in targets if not pane.busy]
        for pane in targets:
            if pane.busy:
                self.notify(f"{pane.model} is still busy ({pane.state})", severity="warning")
        if idle:
            message.input.value = ""
        for pane in idle:
            pane.state = "starting"
            self.run_turn(pane.session_id, prompt, pane.model)

    @work(group="turns", exit_on_error=False)
    async def run_turn(self, session_id: str, prompt: str, model: str) -> None:
        await self.engine.start_turn(session_id, prompt, model=model)

    @work(group="turns", exit_on_error=False)
    async def resume_turn(self, turn_id: str) -> None:
        await self.engine.resume(turn_id)

    def action_cancel_turn(self) -> None:
        pane = self.active_pane
        if pane is not None and pane.cancellable and pane.turn_id:
            self.notify(f"cancelling {pane.turn_id}…", timeout=2)
            self.cancel_turn(pane.turn_id)

    @work(group="cancel", exit_on_error=False)
    async def cancel_turn(self, turn_id: str) -> None:
        await self.engine.cancel(turn_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors surface: a single line, secrets masked."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) if isinstance(error, EngineError) else f"{type(error).__name__}: {error}"
        self.notify(
            redact(text.splitlines()[0] if text else type(error).__name__), severity="error"
        )
        for pane in self.panes:  # a turn that failed to start is not busy any more
            if pane.state == "starting":
                pane.state = "ready"

    # --- events -----------------------------------------------------------------------

    @work(group="events", exclusive=True, exit_on_error=False)
    async def pump_events(self) -> None:
        """Live events go to an inbox, one message per batch: a fast stream costs one
        message per turn of the loop, not per token, and a key press waits for one batch."""
        async for event in self.engine.subscribe():
            self._inbox.append(event)
            if len(self._inbox) == 1:
                self.post_message(EventsArrived())

    @work(group="foreign-events", exclusive=True, exit_on_error=False)
    async def pump_foreign_events(self) -> None:
        """Turns other processes run in the sessions the panes show, as the store gets them."""
        source = getattr(self.engine, "foreign_events", None)
        if source is None:
            return
        async for event in source(lambda: [pane.session_id for pane in self.panes]):
            self._inbox.append(event)
            if len(self._inbox) == 1:
                self.post_message(EventsArrived())

    @work(group="approval-changes", exclusive=True, exit_on_error=False)
    async def pump_approval_changes(self) -> None:
        """Approvals requested or decided anywhere (another terminal, the web page, another
        host on the team store) redraw the reviews panel as the store reports them."""
        async for _ in self.engine.approval_changes():  # type: ignore[attr-defined]
            self.poll_approvals()

    async def on_events_arrived(self, message: EventsArrived) -> None:
        batch, self._inbox = self._inbox, []
        for event in batch:
            await self.ingest(event)

    @work(group="metrics", exclusive=True, exit_on_error=False)
    async def pump_metrics(self) -> None:
        """The engine publishes scheduler figures to its bus while turns run; they come back as events."""
        await self.engine.run_metrics()

    async def on_engine_event(self, message: EngineEvent) -> None:
        await self.ingest(message.event, stored=True)

    async def ingest(self, event: ev.Event, *, stored: bool = False) -> None:
        """Render one event: event log, meters, and the pane of its session (`stored`: history
        redrawn from the store, not something happening now).

        Streaming deltas go straight to their pane, which buffers them for the next frame:
        no event-log line, meter or key-binding refresh per token.
        """
        if not self.is_running:
            return  # the app is shutting down; the store has the event, nothing is drawn
        if isinstance(event, STREAMING_DELTAS):
            pane = self.pane_for(event.session_id)
            if pane is None:
                pane = await self._open_pane_for(event)
            if pane is not None:
                await pane.handle(event)
            return
        self.event_log.record(event)
        self.spend.ingest(event, stored=stored)
        self.queue.ingest(event)
        if isinstance(event, ev.SchedulerMetrics):
            self._refresh_queue_meter()
        if isinstance(
            event, (ev.ModelUsage, ev.ModelFinished, ev.SchedulerMetrics, ev.TurnFinished)
        ):
            self._refresh_meters()
        if isinstance(event, ev.BudgetWarning):
            self.notify(
                f"{event.scope} spend ${event.spent_usd:.4f} of ${event.cap_usd:.4f}",
                title="budget",
                severity="warning",
            )
        if isinstance(event, ev.ApprovalRequested):
            self.poll_approvals()
        if event.session_id is None:
            if isinstance(event, ev.Notice):
                severity = NOTICE_SEVERITY[event.level]
                self.notify(redact(event.message), severity=severity)  # type: ignore[arg-type]
            return
        pane = self.pane_for(event.session_id) or await self._open_pane_for(event)
        if pane is not None:
            await pane.handle(event)
            if pane is self.active_pane and not isinstance(event, _STREAMED):
                self.refresh_bindings()  # state changes: what cancel and copy offer

    async def _open_pane_for(self, event: ev.Event) -> ConversationPane | None:
        """A pane for an event of a session no pane shows yet (while there is room), with
        what the store already has of that session drawn first (a turn resumed here that
        began elsewhere shows its prompt and first answer)."""
        if len(self.panes) >= MAX_PANES:
            return None
        model = getattr(event, "model", None) or self.default_model
        pane = await self.open_pane(event.session_id, model)
        if event.session_id is not None:
            history = await anyio.to_thread.run_sync(self.engine.session_events, event.session_id)
            for earlier in history:
                if earlier.ts < event.ts:  # from now on, the live stream draws it
                    await self.ingest(earlier, stored=True)
        return pane

    @work(thread=True, group="history", exit_on_error=False)
    def load_history(self, session_id: str) -> None:
        for event in self.engine.session_events(session_id):
            self.post_message(EngineEvent(event))

    def _refresh_meters(self) -> None:
        if not (self.is_mounted and self.is_running and self.cost_meter.is_mounted):
            return  # before the first frame, or a timer that fires while the app shuts down
        pane = self.active_pane
        self.cost_meter.show(self.spend.readings(pane.session_id if pane else None))

    def _refresh_queue_meter(self) -> None:
        if not self.is_running:
            return  # a timer that fires while the app shuts down
        self.queue_meter.show(self.queue.reading(self.clock()))
        with suppress(NoMatches, IndexError):  # the reviews panel goes with the screen
            self._refresh_review_ages()

    @work(group="mcp", exclusive=True, exit_on_error=False)
    async def action_mcp_servers(self) -> None:
        """The configured MCP servers' state, doctor-style, in one notification."""
        from opscopilot.mcp.status import server_summaries

        status = getattr(self.engine, "mcp_status", None)
        if status is None:
            self.notify("MCP servers are not available in this engine", severity="warning")
            return
        self.notify("starting the MCP servers…", timeout=3)
        rows = await status()
        lines = server_summaries(rows) or ["no MCP servers configured ([mcp_servers.NAME])"]
        healthy = all(row["state"] == "ready" for row in rows)
        self.notify(
            redact("\n".join(lines)),
            title="MCP servers",
            severity="information" if healthy else "warning",
            timeout=15,
            markup=False,
        )

    # --- help, and what applies now ---------------------------------------------------

    def action_help(self) -> None:
        from opscopilot.tui.screens.help import HelpScreen

        if not self.is_screen_installed("help"):
            self.install_screen(HelpScreen(self.keymap, self.KEY_ACTIONS), name="help")
        self.push_screen("help")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"quit", "help"}:
            return True
        if self.is_mounted and self.screen is not self.screen_stack[0]:
            return False  # a dialog is open: its own keys only
        if action.startswith("copy_"):
            return True  # the key says "nothing to copy" rather than doing nothing
        return self.action_applies(action)

    def action_applies(self, action: str) -> bool:
        """Whether an action makes sense now (what the keys, footer and palette offer)."""
        pane = self.active_pane if self.is_mounted else None
        if action in {"close_pane", "next_pane"}:
            return len(self.panes) > 1
        if action == "new_pane":
            return len(self.panes) < MAX_PANES
        if action == "cancel_turn":
            return bool(pane and pane.cancellable and pane.turn_id)
        if action == "copy_answer":
            return bool(pane and pane.last_answer_text)
        if action == "copy_code":
            return bool(pane and pane.last_code_block)
        if action == "copy_tool_output":
            return bool(pane and pane.last_tool_output)
        if action == "focus_reviews" or action.startswith("review_"):
            return bool(self.pending)
        return True

    def query_review_list(self) -> ReviewList:
        return self.main_screen.query_one(ReviewList)


def tune_collector() -> None:
    """The collector set for a long-lived app, once its first frame is drawn.

    What start-up built (Textual, Rich, pydantic, the catalog, the screen: ~80k objects)
    lives as long as the app, so it leaves the collector's generations and no full
    collection walks it again. And the youngest generation is collected every
    YOUNG_GC_THRESHOLD allocations instead of 700: a turn's short-lived objects (frames,
    strips, events) then die young instead of being promoted, so the full collections that
    promotions trigger (~250 ms on the main thread over a screen of ~200k objects, once a
    turn at 700) become rare. Measured over 70 turns: the collector's time per turn
    240-360 ms -> ~100 ms.
    """
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, oldest)


def create_app(
    *,
    model: str | None = None,
    theme: str | None = None,
    session_id: str | None = None,
    engine: Engine | None = None,
    **options: Any,
) -> OpsCopilotApp:
    """The one app factory, used by `opscopilot tui` and the tests."""
    if engine is None:
        from opscopilot.tui.runtime_engine import RuntimeEngine

        engine = RuntimeEngine()
    return OpsCopilotApp(
        engine, model=model or config.default_model(), theme=theme, session_id=session_id, **options
    )
