"""`opscopilot replay FILE` in the TUI: the recording's events, timed by `Player`, rendered by
the SAME app and widgets as a live session (through `OpsCopilotApp.ingest`).

Nothing behind the replay runs: its engine has no runtime, no store and no provider, so a
replay never calls a model, runs a tool or writes the database. Keys: space pause/resume,
n (or right) step one event, + / - speed, g go to an event, q quit (see REPLAY_ACTIONS).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import anyio
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Static

from opscopilot import events as ev
from opscopilot.replay.player import Player
from opscopilot.replay.recording import Recording
from opscopilot.tui.app import OpsCopilotApp
from opscopilot.tui.bindings import APP_ACTIONS, REPLAY_ACTIONS, KeyAction, app_bindings
from opscopilot.tui.engine import AllowRuleView, ApprovalView, EngineError, SessionView
from opscopilot.tui.spend import QueueTracker, SpendTracker
from opscopilot.tui.widgets.event_log import EventLog

SPEEDS: tuple[float | None, ...] = (1.0, 2.0, 5.0, 10.0, 50.0, None)  # None: no waiting
# App actions that still make sense while watching a recording.
_VIEW_ACTIONS = {
    "help",
    "toggle_events",
    "next_pane",
    "close_pane",
    "next_theme",
    "copy_answer",
    "copy_code",
    "copy_tool_output",
    "quit",
    "set_theme",
}


def speed_label(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:g}×"


class ReplayEngine:
    """The Engine of a replay: nothing runs, nothing is stored, nothing is pending."""

    async def subscribe(self) -> AsyncIterator[ev.Event]:
        await anyio.sleep_forever()
        yield  # pragma: no cover  (makes this an async generator that never yields)

    async def start_turn(self, session_id: str, prompt: str, *, model: str) -> None:
        raise EngineError("replay", "this is a replay: nothing runs")

    async def resume(self, turn_id: str) -> None:
        raise EngineError("replay", "this is a replay: nothing runs")

    async def cancel(self, turn_id: str) -> None:
        raise EngineError("replay", "this is a replay: nothing runs")

    async def run_metrics(self) -> None:
        await anyio.sleep_forever()

    def pending_approvals(
        self, *, turn_id: str | None = None, limit: int | None = None
    ) -> list[ApprovalView]:
        return []

    def pending_count(self) -> int:
        return 0

    async def decide(self, approval_id: str, decision: Any, **_: Any) -> None:
        raise EngineError("replay", "this is a replay: decisions were made when it was recorded")

    async def allow_always(self, session_id: str, tool: str, command: str | None) -> None:
        raise EngineError("replay", "this is a replay: nothing to allow")

    def validate_arguments(self, tool: str, arguments: dict[str, Any]) -> str | None:
        return None

    def sessions(self) -> list[SessionView]:
        return []

    def allow_rules(self, session_id: str) -> list[AllowRuleView]:
        return []

    def revoke_rule(self, rule_id: int) -> None:
        raise EngineError("replay", "this is a replay: nothing to revoke")

    def session_events(self, session_id: str) -> list[ev.Event]:
        return []

    def earlier_turns(self, session_id: str, before: int) -> list[tuple[str, str, str]]:
        return []

    async def foreign_events(self, sessions: Any) -> AsyncIterator[ev.Event]:
        await anyio.sleep_forever()
        yield  # pragma: no cover

    def models(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass
class ReplayFinished(Message):
    """The player handed out the last event."""

    generation: int


class ReplayApp(OpsCopilotApp):
    """The opscopilot app in replay mode: a Player feeds `ingest`; no prompt, no reviews."""

    CSS = (
        OpsCopilotApp.CSS
        + """
    #replay-bar { height: 1; padding: 0 1; background: $primary-muted; text-style: bold; }
    #prompt { display: none; }
    #reviews { display: none; }
    """
    )
    KEY_ACTIONS: ClassVar[tuple[KeyAction, ...]] = REPLAY_ACTIONS + tuple(
        a for a in APP_ACTIONS if a.action in _VIEW_ACTIONS
    )
    BINDINGS = app_bindings(REPLAY_ACTIONS)
    TITLE = "opscopilot replay"

    def __init__(
        self, recording: Recording, *, source: str = "", speed: float | None = 1.0, **options: Any
    ) -> None:
        header = recording.header
        model = header.models[0] if header.models else "replay"
        session_id = header.session_id or next(
            (t.event.session_id for t in recording.events if t.event.session_id), None
        )
        super().__init__(ReplayEngine(), model=model, session_id=session_id, **options)
        self.recording = recording
        self.source = source or header.session_id or "recording"
        self.player = Player(recording, speed=speed)
        self.generation = 0
        self.rendered = 0  # events of the current generation on screen, in order
        self.finished = False
        self._pending: list[tuple[int, ev.Event]] = []  # handed out, not yet drawn

    @property
    def total(self) -> int:
        return len(self.recording.events)

    def compose(self) -> ComposeResult:
        yield Static(self._bar_text(), id="replay-bar", markup=False)
        yield from super().compose()

    def start_focus(self) -> None:
        """No prompt in a replay: focus the pane and start playing."""
        if pane := self.active_pane:
            pane.focus()
        self.set_interval(1 / 30, self._draw_pending)
        self.run_player(0, 0)

    # --- the player ------------------------------------------------------------------

    @work(group="replay", exclusive=True, exit_on_error=False)
    async def run_player(self, redraw_from: int, target: int) -> None:
        """Draw events [redraw_from, target) at once, then play on from `target` in time."""
        generation = self.generation

        def emit(event: ev.Event) -> None:
            # Queued, not drawn: the screen takes them once per frame (_draw_pending), so
            # max speed is bounded by rendering whole frames, not by one round trip per event.
            self._pending.append((generation, event))

        for timed in self.recording.events[redraw_from:target]:
            emit(timed.event)
        self.player.position = target
        await self.player.play(emit)
        self.post_message(ReplayFinished(generation))

    async def _draw_pending(self) -> None:
        """Put every event handed out since the last frame on screen, in order."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        for generation, event in batch:
            if generation == self.generation:
                await self.ingest(event)
                self.rendered += 1
        self._refresh_bar()

    async def on_replay_finished(self, message: ReplayFinished) -> None:
        if message.generation == self.generation:
            await self._draw_pending()
            self.finished = True
            self._refresh_bar()

    def _bar_text(self) -> str:
        if self.finished:
            state = "■ finished (g: go to an event)"
        elif self.player.paused:
            state = "⏸ paused (space: play, n: step)"
        else:
            state = "▶ playing"
        return (
            f"replay {Path(self.source).name}  ·  event {self.rendered}/{self.total}  ·  "
            f"speed {speed_label(self.player.speed)}  ·  {state}"
        )

    def _refresh_bar(self) -> None:
        if self.is_mounted:
            self.main_screen.query_one("#replay-bar", Static).update(self._bar_text())

    # --- keys ------------------------------------------------------------------------

    def action_replay_pause(self) -> None:
        self.player.toggle()
        self._refresh_bar()

    def action_replay_step(self) -> None:
        if not self.player.paused:
            self.player.pause()
        self.player.step()
        self._refresh_bar()

    def action_replay_faster(self) -> None:
        self._set_speed(+1)

    def action_replay_slower(self) -> None:
        self._set_speed(-1)

    def _set_speed(self, direction: int) -> None:
        """The next listed speed up or down from the current one (which --speed may have set)."""
        current = math.inf if self.player.speed is None else self.player.speed
        ranked = [math.inf if s is None else s for s in SPEEDS]
        if direction > 0:
            choices = [s for s in ranked if s > current]
            chosen = min(choices) if choices else current
        else:
            choices = [s for s in ranked if s < current]
            chosen = max(choices) if choices else current
        self.player.set_speed(None if chosen == math.inf else chosen)
        self._refresh_bar()

    def action_replay_seek(self) -> None:
        from opscopilot.tui.screens.seek import SeekScreen

        self.push_screen(SeekScreen(self.rendered, self.total), self._seek)

    async def _seek(self, target: int | None) -> None:
        """Go to just after event `target` and stay there, paused (space plays on): back
        means redraw from the start at max speed."""
        if target is None:
            return
        self.player.pause()  # "go to event 10" lands on 10, whatever the speed
        self.generation += 1  # what the old player still has in flight is not drawn
        if target < self.rendered:
            await self._clear_view()
            start = 0
        else:
            start = self.rendered
        self.rendered = start
        self.finished = False
        self.run_player(start, target)
        self._refresh_bar()

    async def _clear_view(self) -> None:
        """Empty the panes, meters and event log, as before the first event."""
        for pane in self.panes:
            await pane.close_streams()
            await pane.remove()
        self.spend = SpendTracker(caps=dict(self.caps), spent_today_before=self.spent_today)
        self.queue = QueueTracker()
        log = self.main_screen.query_one(EventLog)
        log.clear()
        log.lines_written = 0
        await self.open_pane(self.initial_session, self.default_model)
        self._refresh_meters()
        self._refresh_queue_meter()

    def action_replay_quit(self) -> None:
        self.exit()

    def action_help(self) -> None:
        from opscopilot.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.keymap, self.KEY_ACTIONS, live=False))

    def action_applies(self, action: str) -> bool:
        if action.startswith("replay_"):
            return True
        return action in _VIEW_ACTIONS and super().action_applies(action)


def run_replay_app(recording: Recording, speed: float | None = 1.0, *, source: str = "") -> None:
    """Open the TUI on a recording (what `opscopilot replay FILE` runs)."""
    ReplayApp(recording, source=source, speed=speed).run()
