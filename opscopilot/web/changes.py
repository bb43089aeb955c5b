"""Wake the page when the store's change feed moves, from this process or any other host.

One `store.watch_changes()` (pushed by the server on PostgreSQL, `PRAGMA data_version` on
SQLite) feeds a counter; every waiter (page streams, the expiry sweeper) sleeps on the counter
and wakes only when it moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from opscopilot.store import Store

WAIT_S = 60.0  # how long one wait on the store's watch lasts before it is asked again


class ChangeWatch:
    """A counter that moves when the store changes; `wait` blocks until it moves."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._changed = anyio.Event()
        self.version = 0

    async def run(self) -> None:
        """Watch until cancelled."""
        watch = await anyio.to_thread.run_sync(self._store.watch_changes)
        try:
            while True:
                if await watch.next(WAIT_S):
                    self.poke()
        finally:
            watch.close()

    def poke(self) -> None:
        """Count a change and wake every waiter."""
        self.version += 1
        self._changed.set()
        self._changed = anyio.Event()

    async def wait(self, after: int, timeout_s: float) -> int:
        """The version once it is past `after`, or as it is after `timeout_s`."""
        with anyio.move_on_after(timeout_s):
            while self.version <= after:
                await self._changed.wait()
        return self.version
