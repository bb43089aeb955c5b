"""Pickers: a stored session to resume, a model for the focused pane, allow rules to revoke."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from opscopilot.tui.engine import AllowRuleView, SessionView
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


class AllowRulesScreen(ModalScreen[int | None]):
    """The focused session's always-allow rules; Enter revokes the highlighted one."""

    DEFAULT_CSS = DIALOG_CSS + "AllowRulesScreen OptionList { height: auto; max-height: 16; }"
    BINDINGS = [Binding("escape", "cancel", "Back", id="dialog.cancel")]

    def __init__(self, session_id: str, rules: list[AllowRuleView]) -> None:
        super().__init__()
        self.session_id = session_id
        self.rules = rules

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Always allowed in {self.session_id}", classes="dialog-title")
            if not self.rules:
                yield Static("nothing: every call asks as the policy says", classes="dialog-help")
            yield OptionList(
                *[Option(_rule_line(r), id=str(r.id)) for r in self.rules], id="rule-list"
            )
            yield Static("enter: revoke (later calls ask again) · esc: back", classes="dialog-help")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _rule_line(rule: AllowRuleView) -> str:
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(rule.created_at))
    return f"rule {rule.id}  {rule.what}  (since {since})"
