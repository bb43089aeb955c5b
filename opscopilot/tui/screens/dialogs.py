"""The approval dialogs: a reason for a denial, and edited arguments (JSON, validated)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from opscopilot.tui.engine import ApprovalView
from opscopilot.tui.widgets.tool_card import format_arguments

DIALOG_CSS = """
ModalScreen { align: center middle; }
ModalScreen > Vertical {
    width: 80%; max-width: 100; height: auto; border: thick $primary; background: $surface;
    padding: 1 2;
}
ModalScreen .dialog-title { text-style: bold; }
ModalScreen .dialog-help { color: $text-muted; }
ModalScreen .dialog-error { color: $error; text-style: bold; }
ModalScreen TextArea { height: 12; }
"""


class DenyReasonScreen(ModalScreen[str | None]):
    """Ask why a call is denied; Enter denies, Escape goes back without deciding."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "cancel", "Back", id="dialog.cancel")]

    def __init__(self, approval: ApprovalView) -> None:
        super().__init__()
        self.approval = approval

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Deny {self.approval.tool}?", classes="dialog-title", markup=False)
            yield Static(format_arguments(self.approval.arguments), markup=False)
            yield Input(placeholder="reason (shown to the model)", id="deny-reason")
            yield Static("enter: deny · esc: back", classes="dialog-help")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditArgumentsScreen(ModalScreen[dict[str, Any] | None]):
    """Edit a call's arguments as JSON; accepted only when the tool's schema accepts them."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [
        Binding("ctrl+s", "accept", "Approve edited", priority=True, id="dialog.accept"),
        Binding("escape", "cancel", "Back", id="dialog.cancel"),
    ]

    def __init__(
        self, approval: ApprovalView, validate: Callable[[str, dict[str, Any]], str | None]
    ) -> None:
        super().__init__()
        self.approval = approval
        self.validate = validate

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Edit arguments of {self.approval.tool}", classes="dialog-title")
            yield TextArea(
                json.dumps(self.approval.arguments, indent=2, sort_keys=True),
                language="json" if _has_tree_sitter() else None,
                id="edit-arguments",
            )
            yield Static("", classes="dialog-error", id="edit-error", markup=False)
            yield Static("ctrl+s: approve with these arguments · esc: back", classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_accept(self) -> None:
        text = self.query_one(TextArea).text
        error = self.query_one("#edit-error", Static)
        try:
            arguments = json.loads(text)
        except json.JSONDecodeError as exc:
            error.update(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
            return
        if not isinstance(arguments, dict):
            error.update("arguments must be a JSON object")
            return
        if (problem := self.validate(self.approval.tool, arguments)) is not None:
            error.update(problem)
            return
        self.dismiss(arguments)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _has_tree_sitter() -> bool:
    import importlib.util

    return importlib.util.find_spec("tree_sitter_json") is not None
