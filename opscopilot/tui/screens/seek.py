"""Replay's "go to event" dialog: an event number, checked before the dialog closes."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class SeekScreen(ModalScreen[int | None]):
    """Asks for an event number 0…total; Enter goes there, Esc leaves the replay where it is."""

    DEFAULT_CSS = """
    SeekScreen { align: center middle; }
    SeekScreen > Vertical {
        width: 60; height: auto; border: thick $primary; background: $surface; padding: 1 2;
    }
    SeekScreen .seek-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Back", id="seek.cancel")]

    def __init__(self, position: int, total: int) -> None:
        super().__init__()
        self.position = position
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"Go to event (0–{self.total}; now at {self.position}). "
                "Earlier events are redrawn from the start.",
                markup=False,
            )
            yield Input(placeholder="event number", type="integer", id="seek-input")
            yield Static("", classes="seek-error", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, message: Input.Submitted) -> None:
        text = message.value.strip()
        error = self.query_one(".seek-error", Static)
        if not text.isdigit() or int(text) > self.total:
            error.update(f"type a whole number from 0 to {self.total}")
            return
        self.dismiss(int(text))

    def action_cancel(self) -> None:
        self.dismiss(None)
