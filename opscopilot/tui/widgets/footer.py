"""The key footer: Textual's Footer, without the growth of its `compact` watchers.

Footer recomposes whenever the bindings change, and each new FooterKey is data-bound to the
footer's `compact`. Textual drops a closed key's watcher only when `compact` itself changes,
so over a shift the footer kept every key it ever drew (thousands an hour) and walked them
all. After each recompose the watchers of keys no longer on screen are dropped.
"""

from __future__ import annotations

from textual.widgets import Footer


class KeysFooter(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if node.is_attached]
