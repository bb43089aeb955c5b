"""The app's panes: open, focus, split, close, pickers and clipboard for the focused pane.

A mixin of OpsCopilotApp, kept apart for size. Handlers use `on_<message>` names, not `@on`:
Textual collects `@on` handlers only from classes its metaclass builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.widgets import Input

from opscopilot.redact import redact
from opscopilot.tui.widgets.conversation import ConversationPane
from opscopilot.tui.widgets.event_log import EventLog

if TYPE_CHECKING:
    from textual.containers import Horizontal

    from opscopilot.tui.app import OpsCopilotApp

MAX_PANES = 6


class PaneActions:
    """Mixin: the conversation panes and what the keys do to the focused one."""

    active_pane_id: str | None
    broadcast: bool
    pane_row: Horizontal

    # --- panes ------------------------------------------------------------------------

    @property
    def panes(self: OpsCopilotApp) -> list[ConversationPane]:  # type: ignore[misc]
        """The open panes, left to right (the row's children: no DOM-wide query)."""
        return [w for w in self.pane_row.children if isinstance(w, ConversationPane)]

    @property
    def active_pane(self: OpsCopilotApp) -> ConversationPane | None:  # type: ignore[misc]
        panes = self.panes
        for pane in panes:
            if pane.id == self.active_pane_id:
                return pane
        return panes[0] if panes else None

    def pane_for(self: OpsCopilotApp, session_id: str | None) -> ConversationPane | None:  # type: ignore[misc]
        return next((p for p in self.panes if p.session_id == session_id), None)

    async def open_pane(  # type: ignore[misc]
        self: OpsCopilotApp, session_id: str | None, model: str
    ) -> ConversationPane:
        pane_id = self.new_id("pane")
        pane = ConversationPane(session_id or self.new_id("s"), model, pane_id=pane_id)
        await self.pane_row.mount(pane)
        self._activate(pane)
        return pane

    def _activate(self: OpsCopilotApp, pane: ConversationPane) -> None:  # type: ignore[misc]
        self.active_pane_id = pane.id
        for other in self.panes:
            other.set_class(other is pane, "-active")
        self._refresh_meters()
        self.main_screen.query_one("#prompt", Input).placeholder = self._prompt_placeholder()
        self.refresh_bindings()

    def on_conversation_pane_activated(self, message: ConversationPane.Activated) -> None:
        self._activate(message.pane)  # type: ignore[attr-defined]

    async def action_new_pane(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        if len(self.panes) >= MAX_PANES:
            self.notify(f"at most {MAX_PANES} panes", severity="warning")
            return
        model = self.active_pane.model if self.active_pane else self.default_model
        await self.open_pane(None, model)

    async def action_close_pane(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        pane = self.active_pane
        if pane is None or len(self.panes) <= 1:
            return
        index = self.panes.index(pane)
        await pane.close_streams()
        await pane.remove()
        remaining = self.panes
        self._activate(remaining[min(index, len(remaining) - 1)])

    def action_next_pane(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        panes = self.panes
        if pane := self.active_pane:
            self._activate(panes[(panes.index(pane) + 1) % len(panes)])

    def action_toggle_broadcast(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        self.broadcast = not self.broadcast
        prompt = self.main_screen.query_one("#prompt", Input)
        prompt.set_class(self.broadcast, "-broadcast")
        prompt.placeholder = self._prompt_placeholder()

    def _prompt_placeholder(self: OpsCopilotApp) -> str:  # type: ignore[misc]
        if self.broadcast:
            return "ask every pane at once (ctrl+b: only the focused pane)"
        pane = self.active_pane if self.is_mounted else None
        model = pane.model if pane else self.default_model
        return f"ask {model} (enter to send · ctrl+b: all panes · F1: keys)"

    def action_focus_prompt(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        self.main_screen.query_one("#prompt", Input).focus()

    def action_toggle_events(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        self.main_screen.query_one(EventLog).toggle_shown()

    @work(thread=True, group="history", exit_on_error=False)
    def action_earlier_turns(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        """The turns that left the active pane's screen, read back from the store."""
        from opscopilot.tui.screens.earlier import EarlierTurnsScreen

        pane = self.active_pane
        if pane is None or not pane.turns_hidden:
            self.call_from_thread(self.notify, "every turn of this pane is on screen", timeout=2)
            return
        turns = self.engine.earlier_turns(pane.session_id, pane.turns_hidden)
        self.call_from_thread(self.push_screen, EarlierTurnsScreen(pane.session_id, turns))

    # --- sessions and models ----------------------------------------------------------

    @work(thread=True, group="sessions", exit_on_error=False)
    def action_sessions(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        sessions = self.engine.sessions()
        self.call_from_thread(self._show_sessions, sessions)

    @work(thread=True, group="rules", exit_on_error=False)
    def action_allow_rules(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        pane = self.active_pane
        if pane is None:
            return
        rules = self.engine.allow_rules(pane.session_id)
        self.call_from_thread(self._show_rules, pane.session_id, rules)

    def _show_rules(self: OpsCopilotApp, session_id: str, rules: list) -> None:  # type: ignore[misc]
        from opscopilot.tui.screens.pickers import AllowRulesScreen

        self.push_screen(AllowRulesScreen(session_id, rules), self._revoke_rule)

    @work(thread=True, group="rules", exit_on_error=False)
    def _revoke_rule(self: OpsCopilotApp, rule_id: int | None) -> None:  # type: ignore[misc]
        if rule_id is None:
            return
        self.engine.revoke_rule(rule_id)
        self.call_from_thread(self.notify, f"revoked rule {rule_id}: later calls ask again")

    def _show_sessions(self: OpsCopilotApp, sessions: list) -> None:  # type: ignore[misc]
        from opscopilot.tui.screens.pickers import SessionPicker

        self.push_screen(SessionPicker(sessions), self._open_stored_session)

    async def _open_stored_session(  # type: ignore[misc]
        self: OpsCopilotApp, session_id: str | None
    ) -> None:
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

    def action_pick_model(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        from opscopilot.tui.screens.pickers import ModelPicker

        pane = self.active_pane
        if pane is not None:
            self.push_screen(ModelPicker(self.engine.models(), pane.model), self._set_model)

    def _set_model(self: OpsCopilotApp, model: str | None) -> None:  # type: ignore[misc]
        if model and (pane := self.active_pane):
            pane.set_model(model)
            self.main_screen.query_one("#prompt", Input).placeholder = self._prompt_placeholder()

    # --- clipboard --------------------------------------------------------------------

    def _copy(self: OpsCopilotApp, text: str | None, what: str) -> None:  # type: ignore[misc]
        if not text:
            self.notify(f"no {what} to copy", severity="warning")
            return
        # What the pane shows, secrets masked: clipboard managers keep their history on disk.
        text = redact(text)
        self.copy_to_clipboard(text)
        self.notify(f"copied {what} ({len(text)} chars)", timeout=2)

    def action_copy_answer(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        pane = self.active_pane
        self._copy(pane.last_answer_text if pane else None, "answer")

    def action_copy_code(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        pane = self.active_pane
        self._copy(pane.last_code_block if pane else None, "code block")

    def action_copy_tool_output(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        pane = self.active_pane
        self._copy(pane.last_tool_output if pane else None, "tool output")
