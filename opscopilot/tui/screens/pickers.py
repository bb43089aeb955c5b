"""Pickers: a stored session to resume, a model for the focused pane."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from opscopilot.tui.engine import SessionView
from opscopilot.tui.screens.dialogs import DIALOG_CSS


class SessionPicker(ModalScreen[str | None]):
    """Stored sessions, newest first; Enter opens one in a new pane."""

    DEFAULT_CSS = DIALOG_CSS + "SessionPicker OptionList { height: auto; max-height: 20; }"
    BINDINGS = [Binding("escape", "cancel", "Back", id="dialog.cancel")]

    def __init__(self, sessions: list[SessionView]) -> None:
        super().__init__()
        self.sessions = sessions

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Resume a session", classes="dialog-title")
            if not self.sessions:
                yield Static("no stored sessions yet", classes="dialog-help")
            yield OptionList(
                *[Option(_session_line(s), id=s.id) for s in self.sessions], id="session-list"
            )
            yield Static("enter: open in a new pane · esc: back", classes="dialog-help")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _session_line(session: SessionView) -> str:
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(session.created_at))
    return f"{created}  {session.model:<28}  {session.title or session.id}"


class ModelPicker(ModalScreen[str | None]):
    """Known models to choose from, or any `provider:model` typed in."""

    DEFAULT_CSS = DIALOG_CSS + "ModelPicker OptionList { height: auto; max-height: 16; }"
    BINDINGS = [Binding("escape", "cancel", "Back", id="dialog.cancel")]

    def __init__(self, models: list[str], current: str) -> None:
        super().__init__()
        self.models = models
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Model for this pane (now {self.current})", classes="dialog-title")
            yield Input(placeholder="provider:model, e.g. openai:gpt-4o-mini", id="model-input")
            yield OptionList(*[Option(m, id=m) for m in self.models], id="model-list")
            yield Static(
                "type to filter · enter: choose · down: the list · esc: back",
                classes="dialog-help",
            )

    def on_input_changed(self, event: Input.Changed) -> None:
        needle = event.value.strip().lower()
        options = self.query_one("#model-list", OptionList)
        options.clear_options()
        options.add_options([Option(m, id=m) for m in self.models if needle in m.lower()])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            return
        provider, sep, model = value.partition(":")
        if not sep or not provider or not model:
            matches = [m for m in self.models if value.lower() in m.lower()]
            if len(matches) == 1:
                self.dismiss(matches[0])
                return
            self.notify(f"{value!r} is not provider:model", severity="error")
            return
        self.dismiss(value)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
