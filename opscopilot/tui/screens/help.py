"""The help screen: every key, as currently mapped (after `[keys]` remapping).

The keys table is drawn once per width and kept (`DrawnOnce`): a Rich table of ~30 rows
takes 10–40 ms to lay out, and Textual asks for it several times while the screen opens
(its height, then its lines, again after the first resize), on every F1. Its background
is solid: over a translucent one Textual draws the whole screen below again and tints each
of its segments, every time the help screen is drawn (three times as it opens).
"""

from __future__ import annotations

from functools import lru_cache

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from opscopilot.tui.bindings import APP_ACTIONS, REVIEW_KEYS, KeyAction
from opscopilot.tui.widgets.drawn import DrawnOnce


def keys_table(
    keymap: dict[str, str], actions: tuple[KeyAction, ...] = APP_ACTIONS, *, live: bool = True
) -> Table:
    """A table of every action: id, key(s) in force, what it does."""
    table = Table(title="opscopilot keys", expand=True, show_edge=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("action")
    table.add_column("id (for \\[keys])", style="dim", no_wrap=True)
    for action in actions:
        table.add_row(keymap.get(action.id, action.key), action.description, action.id)
    if live:  # a replay has no prompt and nothing to review
        for review_id, key, description in REVIEW_KEYS:
            table.add_row(keymap.get(review_id, key), description, review_id)
        table.add_row("enter", "Send the prompt to the focused pane (or all panes)", "")
    table.add_row("ctrl+p", "Command palette: every action by name", "")
    table.add_row("tab / shift+tab", "Move focus", "")
    return table


@lru_cache(maxsize=8)
def _drawn_table(keys: tuple[tuple[str, str], ...], actions: tuple, live: bool) -> DrawnOnce:
    return DrawnOnce(keys_table(dict(keys), actions, live=live))


def help_table(
    keymap: dict[str, str], actions: tuple[KeyAction, ...] = APP_ACTIONS, *, live: bool = True
) -> DrawnOnce:
    """The keys table for this keymap, drawn at most once per width for the whole session."""
    return _drawn_table(tuple(sorted(keymap.items())), actions, live)


class HelpScreen(ModalScreen[None]):
    """Lists every key; any of escape, F1 or q closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 110; height: 80%; border: thick $primary; background: $surface;
    }
    """
    BINDINGS = [Binding("escape,f1,q", "close", "Close", id="help.close")]

    def __init__(
        self,
        keymap: dict[str, str],
        actions: tuple[KeyAction, ...] = APP_ACTIONS,
        *,
        live: bool = True,
    ) -> None:
        super().__init__()
        self.keymap = keymap
        self.actions = actions
        self.live = live

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_table(self.keymap, self.actions, live=self.live), id="help-keys")

    def action_close(self) -> None:
        self.dismiss(None)
