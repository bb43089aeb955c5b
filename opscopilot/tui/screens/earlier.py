"""The turns a pane no longer shows, read back from the store: prompt, status and answer,
as plain text (cheap to draw however many there are); escape closes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class EarlierTurnsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    EarlierTurnsScreen { align: center middle; }
    EarlierTurnsScreen > VerticalScroll {
        width: 90%; height: 85%; border: thick $primary; background: $surface; padding: 0 1;
    }
    EarlierTurnsScreen .earlier-prompt { color: $accent; text-style: bold; margin: 1 0 0 0; }
    EarlierTurnsScreen .earlier-status { color: $text-muted; }
    """
    BINDINGS = [Binding("escape,q,f12", "close", "Close", id="earlier.close")]

    def __init__(self, session_id: str, turns: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.session_id = session_id
        self.turns = turns

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = f"{self.session_id}: {len(self.turns)} earlier turns"
            for prompt, status, text in self.turns:
                yield Static(f"› {prompt}", classes="earlier-prompt", markup=False)
                yield Static(text.strip() or "(no answer)", markup=False)
                yield Static(f"turn {status}", classes="earlier-status", markup=False)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
