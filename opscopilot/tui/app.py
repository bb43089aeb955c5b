"""The opscopilot TUI: conversation panes, meters, pending reviews, event log.

A view over the engine: workers talk to the engine and post messages; handlers own state
and route each event of opscopilot/events.py to the pane of its session.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from opscopilot import config
from opscopilot import events as ev
from opscopilot.redact import redact
from opscopilot.tui import theming
from opscopilot.tui.approval_flow import ApprovalFlow
from opscopilot.tui.bindings import app_bindings, keymap_from_config
from opscopilot.tui.commands import OpsCommands
from opscopilot.tui.engine import Engine, EngineError
from opscopilot.tui.spend import QueueTracker, Scope, SpendTracker
from opscopilot.tui.widgets.conversation import ConversationPane
from opscopilot.tui.widgets.event_log import EventLog
from opscopilot.tui.widgets.meters import CostMeter, QueueMeter
from opscopilot.tui.widgets.reviews import ReviewList, ReviewsPanel

MAX_PANES = 6
APP_TITLE = "opscopilot"


@dataclass
class EngineEvent(Message):
    """An event the engine published (posted by the subscription worker)."""

    event: ev.Event


class OpsCopilotApp(ApprovalFlow, App[None]):
    """The operator's copilot; build it with `create_app`."""

    CSS = """
    #top-bar { height: 1; padding: 0 1; background: $panel; }
    #queue-meter { padding: 0 1; background: $panel; }
    #title { width: auto; text-style: bold; padding: 0 2 0 0; }
    #title.-alert { color: $warning; text-style: bold reverse; }
    #panes { height: 1fr; }
    #prompt { dock: bottom; margin: 0 0 1 0; }
    #prompt.-broadcast { border: tall $accent; }
    """
    BINDINGS = app_bindings()
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
    ) -> None:
        super().__init__()
        self.engine = engine
        self.default_model = model
        self.requested_theme = theme
        self.initial_session = session_id
        self.clock = clock
        self.new_id = new_id or (lambda prefix: f"{prefix}_{uuid.uuid4().hex[:12]}")
        self.poll_interval = poll_interval
        self.keys_config = keys
        self.deterministic = deterministic
        self.spend = SpendTracker(caps=dict(caps or {}), spent_today_before=spent_today)
        self.queue = QueueTracker()
        self.broadcast = False
        self.active_pane_id: str | None = None
        self.opscopilot_theme_names: list[str] = []
        self.keymap: dict[str, str] = {}
        self.alerts = 0
        self._init_approval_flow()

    # --- layout -----------------------------------------------------------------------

    @property
    def main_screen(self) -> Screen:
        """The screen holding the panes (dialogs stack above it)."""
        return self.screen_stack[0]

    def compose(self) -> ComposeResult:
        with Horizontal(id="top-bar"):
            yield Static(APP_TITLE, id="title")
            yield CostMeter(id="cost-meter")
        yield QueueMeter("queue: idle", id="queue-meter")
        yield ReviewsPanel(id="reviews")
        yield Horizontal(id="panes")
        yield EventLog()
        yield Input(placeholder=self._prompt_placeholder(), id="prompt")
        yield Footer()

    async def on_mount(self) -> None:
        self._load_themes()
        self._load_keymap()
        if self.deterministic:
            self.main_screen.query_one("#prompt", Input).cursor_blink = False
        pane = await self.open_pane(self.initial_session, self.default_model)
        if self.initial_session:
            self.load_history(pane.session_id)
        self.main_screen.query_one("#prompt", Input).focus()
        self._refresh_meters()
        self.pump_events()
        self.poll_approvals()
        self.set_interval(self.poll_interval, self.poll_approvals)
        self.set_interval(1.0, self._refresh_queue_meter)

    async def on_unmount(self) -> None:
        await self.engine.aclose()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **theming.VARIABLE_DEFAULTS}

    # --- themes and keys --------------------------------------------------------------

    def _load_themes(self) -> None:
        specs, errors = theming.load_theme_specs()
        for spec in specs:
            self.register_theme(spec.to_textual())
        self.opscopilot_theme_names = [s.name for s in specs]
        if errors:
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            self.notify(errors[0] + more, title="theme skipped", severity="warning")
        wanted = self.requested_theme or theming.remembered_theme() or theming.DEFAULT_THEME
        if wanted not in self.available_themes:
            if self.requested_theme:
                self.notify(f"no theme named {wanted!r}; using the default", severity="warning")
            wanted = theming.DEFAULT_THEME if theming.DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = wanted
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self, theme: Any) -> None:
        try:
            theming.save_state(theme=theme.name)
        except OSError as exc:
            self.notify(f"could not remember the theme: {exc.strerror}", severity="warning")

    def _load_keymap(self) -> None:
        keys = self.keys_config
        if keys is None:
            try:
                keys = config.section("keys")
            except config.ConfigError as exc:
                self.notify(str(exc), severity="error")
                keys = {}
        keymap, errors = keymap_from_config(keys)
        for error in errors:
            self.notify(error, severity="warning")
        self.keymap = keymap
        if keymap:
            self.set_keymap(keymap)

    def action_set_theme(self, name: str) -> None:
        if name in self.available_themes:
            self.theme = name

    def action_next_theme(self) -> None:
        names = self.opscopilot_theme_names or list(self.available_themes)
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[index % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

    # --- panes ------------------------------------------------------------------------

    @property
    def panes(self) -> list[ConversationPane]:
        return list(self.main_screen.query(ConversationPane))

    @property
    def active_pane(self) -> ConversationPane | None:
        for pane in self.panes:
            if pane.id == self.active_pane_id:
                return pane
        panes = self.panes
        return panes[0] if panes else None

    def pane_for(self, session_id: str | None) -> ConversationPane | None:
        return next((p for p in self.panes if p.session_id == session_id), None)

    async def open_pane(self, session_id: str | None, model: str) -> ConversationPane:
        pane_id = self.new_id("pane")
        pane = ConversationPane(session_id or self.new_id("ses"), model, pane_id=pane_id)
        await self.main_screen.query_one("#panes", Horizontal).mount(pane)
        self._activate(pane)
        return pane

    def _activate(self, pane: ConversationPane) -> None:
        self.active_pane_id = pane.id
        for other in self.panes:
            other.set_class(other is pane, "-active")
        self._refresh_meters()
        self.main_screen.query_one("#prompt", Input).placeholder = self._prompt_placeholder()
        self.refresh_bindings()

    @on(ConversationPane.Activated)
    def _pane_focused(self, message: ConversationPane.Activated) -> None:
        self._activate(message.pane)

    async def action_new_pane(self) -> None:
        if len(self.panes) >= MAX_PANES:
            self.notify(f"at most {MAX_PANES} panes", severity="warning")
            return
        model = self.active_pane.model if self.active_pane else self.default_model
        await self.open_pane(None, model)

    async def action_close_pane(self) -> None:
        pane = self.active_pane
        if pane is None or len(self.panes) <= 1:
            return
        index = self.panes.index(pane)
        await pane.close_streams()
        await pane.remove()
        remaining = self.panes
        self._activate(remaining[min(index, len(remaining) - 1)])

    def action_next_pane(self) -> None:
        panes = self.panes
        if pane := self.active_pane:
            self._activate(panes[(panes.index(pane) + 1) % len(panes)])

    def action_toggle_broadcast(self) -> None:
        self.broadcast = not self.broadcast
        prompt = self.main_screen.query_one("#prompt", Input)
        prompt.set_class(self.broadcast, "-broadcast")
        prompt.placeholder = self._prompt_placeholder()

    def _prompt_placeholder(self) -> str:
        if self.broadcast:
            return "ask every pane at once (ctrl+b: only the focused pane)"
        pane = self.active_pane if self.is_mounted else None
        model = pane.model if pane else self.default_model
        return f"ask {model} (enter to send · ctrl+b: all panes · F1: keys)"

    def action_focus_prompt(self) -> None:
        self.main_screen.query_one("#prompt", Input).focus()

    def action_toggle_events(self) -> None:
        self.main_screen.query_one(EventLog).toggle_class("-visible")

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

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors surface: a single line, secrets masked."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) if isinstance(error, EngineError) else f"{type(error).__name__}: {error}"
        self.notify(redact(text.splitlines()[0] if text else type(error).__name__), severity="error")
        for pane in self.panes:  # a turn that failed to start is not busy any more
            if pane.state == "starting":
                pane.state = "ready"

    # --- events -----------------------------------------------------------------------

    @work(group="events", exclusive=True, exit_on_error=False)
    async def pump_events(self) -> None:
        async for event in self.engine.subscribe():
            self.post_message(EngineEvent(event))

    async def on_engine_event(self, message: EngineEvent) -> None:
        await self.ingest(message.event)

    async def ingest(self, event: ev.Event) -> None:
        """Render one event: event log, meters, and the pane of its session."""
        self.main_screen.query_one(EventLog).record(event)
        self.spend.ingest(event)
        self.queue.ingest(event)
        if isinstance(event, ev.SchedulerMetrics):
            self._refresh_queue_meter()
        if isinstance(event, (ev.ModelUsage, ev.ModelFinished, ev.SchedulerMetrics, ev.TurnFinished)):
            self._refresh_meters()
        if isinstance(event, ev.BudgetWarning):
            self.notify(
                f"{event.scope} spend ${event.spent_usd:.4f} of ${event.cap_usd:.4f}",
                title="budget", severity="warning",
            )
        if isinstance(event, ev.ApprovalRequested):
            self.poll_approvals()
        if event.session_id is None:
            if isinstance(event, ev.Notice) and event.level != "info":
                self.notify(redact(event.message), severity=event.level)
            return
        pane = self.pane_for(event.session_id)
        if pane is None and len(self.panes) < MAX_PANES:
            model = getattr(event, "model", None) or self.default_model
            pane = await self.open_pane(event.session_id, model)
        if pane is not None:
            await pane.handle(event)
            if pane is self.active_pane:
                self.refresh_bindings()

    @work(thread=True, group="history", exit_on_error=False)
    def load_history(self, session_id: str) -> None:
        for event in self.engine.session_events(session_id):
            self.post_message(EngineEvent(event))

    def _refresh_meters(self) -> None:
        if not self.is_mounted:
            return
        pane = self.active_pane
        self.main_screen.query_one(CostMeter).show(self.spend.readings(pane.session_id if pane else None))

    def _refresh_queue_meter(self) -> None:
        self.main_screen.query_one(QueueMeter).show(self.queue.reading(self.clock()))
        self._refresh_review_ages()

    # --- screens ----------------------------------------------------------------------

    def action_help(self) -> None:
        from opscopilot.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.keymap))

    @work(thread=True, group="sessions", exit_on_error=False)
    def action_sessions(self) -> None:
        sessions = self.engine.sessions()
        self.call_from_thread(self._show_sessions, sessions)

    def _show_sessions(self, sessions: list) -> None:
        from opscopilot.tui.screens.pickers import SessionPicker

        self.push_screen(SessionPicker(sessions), self._open_stored_session)

    async def _open_stored_session(self, session_id: str | None) -> None:
        if not session_id:
            return
        if pane := self.pane_for(session_id):
            self._activate(pane)
            return
        if len(self.panes) >= MAX_PANES:
            self.notify(f"at most {MAX_PANES} panes; close one first (F8)", severity="warning")
            return
        await self.open_pane(session_id, self.default_model)
        self.load_history(session_id)

    def action_pick_model(self) -> None:
        from opscopilot.tui.screens.pickers import ModelPicker

        pane = self.active_pane
        if pane is not None:
            self.push_screen(ModelPicker(self.engine.models(), pane.model), self._set_model)

    def _set_model(self, model: str | None) -> None:
        if model and (pane := self.active_pane):
            pane.set_model(model)
            self.main_screen.query_one("#prompt", Input).placeholder = self._prompt_placeholder()

    # --- clipboard --------------------------------------------------------------------

    def _copy(self, text: str | None, what: str) -> None:
        if not text:
            self.notify(f"no {what} to copy", severity="warning")
            return
        self.copy_to_clipboard(text)
        self.notify(f"copied {what} ({len(text)} chars)", timeout=2)

    def action_copy_answer(self) -> None:
        pane = self.active_pane
        self._copy(pane.last_answer_text if pane else None, "answer")

    def action_copy_code(self) -> None:
        pane = self.active_pane
        self._copy(pane.last_code_block if pane else None, "code block")

    def action_copy_tool_output(self) -> None:
        pane = self.active_pane
        self._copy(pane.last_tool_output if pane else None, "tool output")

    # --- what applies now -------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"quit", "help"}:
            return True
        if self.is_mounted and self.screen is not self.screen_stack[0]:
            return False  # a dialog is open: its own keys only
        return self.action_applies(action)

    def action_applies(self, action: str) -> bool:
        """Whether an action makes sense now (what the keys, footer and palette offer)."""
        pane = self.active_pane if self.is_mounted else None
        if action == "close_pane":
            return len(self.panes) > 1
        if action == "next_pane":
            return len(self.panes) > 1
        if action == "new_pane":
            return len(self.panes) < MAX_PANES
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
