"""The key footer: Textual's Footer, without the growth of its `compact` watchers, and
without rebuilding keys that did not change.

Footer recomposes whenever the bindings change, and each new FooterKey is data-bound to the
footer's `compact`. Textual drops a closed key's watcher only when `compact` itself changes,
so over a shift the footer kept every key it ever drew (thousands an hour) and walked them
all. After each recompose the watchers of keys no longer on screen are dropped.

Textual also says "bindings changed" each time its screen comes back (a dialog or the help
closes) and on every `refresh_bindings()`, and the footer then mounts all its keys anew
(tens of ms, in the frame a key press waits for). The footer recomposes only when what it
would show differs (the keys, their labels and whether each is enabled), and not while a
screen above hides it (the help or a dialog: its keys are disabled meanwhile and come back
as they were).
"""

from __future__ import annotations

from textual.widgets import Footer


class KeysFooter(Footer):
    _shown: tuple | None = None  # what the keys on screen were composed from

    def _showing(self) -> tuple:
        bindings = self.screen.active_bindings.values()
        keys = tuple(
            (binding.key, binding.action, binding.description, enabled, tooltip)
            for _, binding, enabled, tooltip in bindings
            if binding.show or binding.action == "command_palette"
        )
        return (self.compact, self.show_command_palette, keys)

    async def recompose(self) -> None:
        if not self.is_attached or (self.app.screen is not self.screen and self._shown):
            return  # a screen above hides it (it comes back with the same keys)
        showing = self._showing() if self._bindings_ready else None
        if showing is not None and showing == self._shown:
            return  # the same keys: nothing to rebuild
        self._shown = showing
        await super().recompose()
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if node.is_attached]
