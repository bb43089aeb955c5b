"""Wake the page when the database changes, from this process or any other.

On a PostgreSQL store the server pushes changes (LISTEN/NOTIFY, `store.notify.Listener`) and
the watch wakes on each. SQLite's `PRAGMA data_version` changes whenever another connection commits; reading it costs a
few microseconds and reads no table, so the server asks it ten times a second on a connection of
its own and wakes every waiter (page streams, the expiry sweeper) only on a change.
"""

from __future__ import annotations

from typing import Any

import anyio

from opscopilot.store import db

CHECK_EVERY_S = 0.1


class ChangeWatch:
    """A counter that moves when the store changes; `wait` blocks until it moves."""

    def __init__(self, path: Any, *, check_every_s: float = CHECK_EVERY_S) -> None:
        from opscopilot.store.location import resolve

        self._changed = anyio.Event()
        self.version = 0
        self._check_every_s = check_every_s
        self._listener: Any = None
        location = resolve(path)
        if location.is_postgres:  # a team store pushes its changes: no polling
            from opscopilot.store.notify import Listener

            self._listener = Listener(location)
            return
        self._conn = db.open_connection(location.path)  # type: ignore[arg-type]
        self._seen = self._data_version()

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    async def run(self) -> None:
        """Watch until cancelled."""
        if self._listener is not None:
            try:
                while True:
                    pushed = await anyio.to_thread.run_sync(
                        self._listener.wait, 1.0, abandon_on_cancel=True
                    )
                    if pushed:
                        self.poke()
            finally:
                self._listener.close()
        try:
            while True:
                await anyio.sleep(self._check_every_s)
                current = self._data_version()
                if current != self._seen:
                    self._seen = current
                    self.poke()
        finally:
            self._conn.close()

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
