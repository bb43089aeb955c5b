"""Every app-level key, with a stable id so config.toml `[keys]` can remap it.

`[keys]` maps a binding id to a key (or a comma-separated list): `"pane.new" = "ctrl+t"`.
The ids of the reviews list (review.*) are listed here too so the help screen and the
docs show one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.binding import Binding


@dataclass(frozen=True)
class KeyAction:
    """One operator action: its id, default key, app action and what it does."""

    id: str
    key: str
    action: str
    description: str
    show: bool = True
    priority: bool = True  # works while the prompt has focus


# In the footer's order: what an operator needs at 80 columns (help, reviews, cancel) first.
APP_ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("app.help", "f1", "help", "Help: every key"),
    KeyAction("app.reviews", "f5,ctrl+r", "focus_reviews", "Reviews"),
    KeyAction("turn.cancel", "f9", "cancel_turn", "Cancel turn"),
    KeyAction("app.sessions", "f2", "sessions", "Sessions"),
    KeyAction("app.model", "f3", "pick_model", "Model"),
    KeyAction("app.events", "f4", "toggle_events", "Event log"),
    KeyAction("pane.next", "f6,ctrl+o", "next_pane", "Next pane"),
    KeyAction("app.theme", "f7", "next_theme", "Theme"),
    KeyAction("pane.close", "f8", "close_pane", "Close pane"),
    KeyAction("pane.new", "ctrl+n", "new_pane", "Split"),
    KeyAction("pane.earlier", "f12", "earlier_turns", "Earlier turns", show=False),
    KeyAction("app.rules", "f10", "allow_rules", "Allow rules", show=False),
    KeyAction("prompt.broadcast", "ctrl+b", "toggle_broadcast", "All panes"),
    KeyAction("copy.answer", "ctrl+y", "copy_answer", "Copy answer", show=False),
    KeyAction("copy.code", "ctrl+g", "copy_code", "Copy code block", show=False),
    KeyAction("copy.tool", "ctrl+t", "copy_tool_output", "Copy tool output", show=False),
    KeyAction("prompt.focus", "escape", "focus_prompt", "Prompt", show=False, priority=False),
    KeyAction("app.quit", "ctrl+q", "quit", "Quit"),
)

# Replay mode (`opscopilot replay FILE`) adds these; they drive the Player, not a runtime.
REPLAY_ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("replay.pause", "space", "replay_pause", "Pause / resume"),
    KeyAction("replay.step", "n,right", "replay_step", "Step one event (paused)"),
    KeyAction("replay.faster", "plus,equals_sign", "replay_faster", "Faster"),
    KeyAction("replay.slower", "minus", "replay_slower", "Slower"),
    KeyAction("replay.seek", "g", "replay_seek", "Go to event…"),
    KeyAction("replay.quit", "q", "replay_quit", "Quit replay"),
)

REVIEW_KEYS: tuple[tuple[str, str, str], ...] = (
    ("review.approve", "a", "Approve the highlighted call"),
    ("review.deny", "d", "Deny it (asks for a reason)"),
    ("review.edit", "e", "Edit its arguments (JSON, checked against the tool's schema)"),
    ("review.always", "A", "Always allow this tool/command in this session, and approve"),
    ("review.next", "j / down", "Next pending approval"),
    ("review.previous", "k / up", "Previous pending approval"),
)

KNOWN_IDS = {a.id for a in APP_ACTIONS + REPLAY_ACTIONS} | {rid for rid, _, _ in REVIEW_KEYS}


def app_bindings(actions: tuple[KeyAction, ...] = APP_ACTIONS) -> list[Binding]:
    return [
        Binding(a.key, a.action, a.description, show=a.show, priority=a.priority, id=a.id)
        for a in actions
    ]


def keymap_from_config(keys_section: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Validate `[keys]`: returns the keymap and one error line per entry that can't be used."""
    keymap: dict[str, str] = {}
    errors: list[str] = []
    for binding_id, keys in keys_section.items():
        if binding_id not in KNOWN_IDS:
            errors.append(f"[keys] {binding_id!r} is not a binding id (see the help screen, F1)")
        elif not isinstance(keys, str) or not keys.strip():
            errors.append(f'[keys] {binding_id} must be a key name such as "ctrl+t"')
        else:
            keymap[binding_id] = keys.strip()
    return keymap, errors
