"""The command palette's opscopilot commands: every key action, plus one entry per theme."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from opscopilot.tui.app import OpsCopilotApp

_EXTRA: tuple[tuple[str, str, str], ...] = (
    ("Approve highlighted review", "review_approve", "Approve the highlighted pending call"),
    ("Deny highlighted review", "review_deny", "Deny it, with a reason"),
    ("Edit highlighted review", "review_edit", "Edit its arguments, then approve"),
    ("Always allow highlighted review", "review_always_allow", "Allow this tool in the session"),
)


class OpsCommands(Provider):
    """Every action of the app by name, so nothing needs a key to be reachable."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: OpsCopilotApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, Callable[[], object], str]] = []
        for action in app.KEY_ACTIONS:
            if not app.action_applies(action.action):
                continue
            keys = app.keymap.get(action.id, action.key)
            commands.append(
                (action.description, partial(app.run_action, action.action), f"key: {keys}")
            )
        for title, action_name, help_text in _EXTRA:
            if app.action_applies(action_name):
                commands.append((title, partial(app.run_action, action_name), help_text))
        if getattr(app.engine, "mcp_configured", lambda: False)():
            commands.append(
                (
                    "MCP servers",
                    partial(app.run_action, "mcp_servers"),
                    "Start the configured MCP servers and show their state",
                )
            )
        for name in app.opscopilot_theme_names:
            commands.append(
                (f"Theme: {name}", partial(app.run_action, f"set_theme('{name}')"), "switch theme")
            )
        return commands

    async def discover(self) -> Hits:
        for title, command, help_text in self._commands():
            yield DiscoveryHit(title, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, command, help_text in self._commands():
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), command, help=help_text)
