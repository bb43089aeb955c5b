"""The app's themes (bundled and the operator's, remembered) and keys (`[keys]` remapping).

A mixin of OpsCopilotApp, kept apart for size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opscopilot import config
from opscopilot.tui import theming
from opscopilot.tui.bindings import keymap_from_config

if TYPE_CHECKING:
    from opscopilot.tui.app import OpsCopilotApp


class Appearance:
    """Mixin: load themes and the keymap as the app mounts; theme actions."""

    requested_theme: str | None
    keys_config: dict[str, Any] | None
    opscopilot_theme_names: list[str]
    keymap: dict[str, str]

    def _load_themes(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        specs, errors = theming.load_theme_specs()
        for spec in specs:
            self.register_theme(spec.to_textual())
        self.opscopilot_theme_names = [s.name for s in specs]
        if errors:
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            self.notify(errors[0] + more, title="theme skipped", severity="warning")
        wanted = self.requested_theme or theming.remembered_theme() or theming.DEFAULT_THEME
        if wanted not in self.available_themes:
            if self.requested_theme:
                self.notify(f"no theme named {wanted!r}; using the default", severity="warning")
            default_ok = theming.DEFAULT_THEME in self.available_themes
            wanted = theming.DEFAULT_THEME if default_ok else "textual-dark"
        self.theme = wanted
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self: OpsCopilotApp, theme: Any) -> None:  # type: ignore[misc]
        try:
            theming.save_state(theme=theme.name)
        except OSError as exc:
            self.notify(f"could not remember the theme: {exc.strerror}", severity="warning")

    def _load_keymap(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        keys = self.keys_config
        if keys is None:
            try:
                keys = config.section("keys")
            except config.ConfigError as exc:
                self.notify(str(exc), severity="error")
                keys = {}
        keymap, errors = keymap_from_config(keys)
        for error in errors:
            self.notify(error, severity="warning")
        self.keymap = keymap
        if keymap:
            self.set_keymap(keymap)

    def action_set_theme(self: OpsCopilotApp, name: str) -> None:  # type: ignore[misc]
        if name in self.available_themes:
            self.theme = name

    def action_next_theme(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        names = self.opscopilot_theme_names or list(self.available_themes)
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[index % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)
