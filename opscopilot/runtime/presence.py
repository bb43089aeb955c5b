"""A runtime's presence in the store: the turns it owns (kept alive by a heartbeat) and the
decisions other processes make about them (heard through the store's change watch).

One daemon thread per runtime, started when the first turn is claimed: every
`HEARTBEAT_S` it renews the runtime's claims; every poll interval it asks the change watch
what moved, and wakes the waiting turns those changes concern. A decision made in another
terminal, on the web page or on another host therefore reaches a waiting turn within one
poll interval (50 ms on SQLite; on PostgreSQL the server pushes it, and the thread sleeps on
the socket until then) plus the time to read it. About once a minute it also trims the change
feed to its last minutes (store/retention.py: the feed is only for wake-ups).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from opscopilot.store.owners import HEARTBEAT_S, OwnerIdentity

if TYPE_CHECKING:
    from opscopilot.store import ChangeWatch, Store, TurnOwner

Wake = Callable[[], None]
TRIM_EVERY_S = 60.0  # how often a live runtime trims the store's change feed


class Presence:
    """Claims, heartbeat and change-driven wake-ups for one runtime's turns."""

    def __init__(self, store: Store, identity: OwnerIdentity) -> None:
        self.store = store
        self.identity = identity
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._waiters: dict[str, Wake] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._watch: ChangeWatch | None = None
        self._start_after: int | None = None
        self.lost: set[str] = set()  # claims another process took over (we were presumed dead)

    # --- ownership (blocking; the runtime calls these through anyio.to_thread) ---------

    def claim(self, turn_id: str) -> TurnOwner:
        """Own the turn, or raise TurnOwnedError naming the live process that does."""
        if self._start_after is None:
            # Where the thread's watch begins: nothing committed from now on is missed.
            self._start_after = self.store.last_change_seq()
        owner = self.store.claim_turn(turn_id, self.identity, now=time.time())
        with self._lock:
            self._held.add(turn_id)
            self.lost.discard(turn_id)
        self._ensure_thread()
        return owner

    def release(self, turn_id: str) -> None:
        with self._lock:
            self._held.discard(turn_id)
            self._waiters.pop(turn_id, None)
        self.store.release_turn(turn_id, self.identity.owner_id, now=time.time())

    def holds(self, turn_id: str) -> bool:
        with self._lock:
            return turn_id in self._held

    # --- waking waiting turns -------------------------------------------------------

    def watch(self, turn_id: str, wake: Wake) -> None:
        """Call `wake` (from the presence thread) when another process changes this turn."""
        with self._lock:
            self._waiters[turn_id] = wake
        self._ensure_thread()

    def unwatch(self, turn_id: str) -> None:
        with self._lock:
            self._waiters.pop(turn_id, None)

    # --- the thread -------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            # The watch's connection opens in the thread: never on the caller's event loop.
            self._thread = threading.Thread(
                target=self._loop, name="opscopilot-presence", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        from opscopilot.store import StoreError

        try:
            watch = self.store.watch_changes(after=self._start_after)
        except StoreError:
            self._thread = None
            return  # the store is closing; the next claim or watch starts a thread again
        with self._lock:
            self._watch = watch
        next_beat = time.monotonic() + HEARTBEAT_S
        next_trim = time.monotonic()  # at once: a long-lived store may hold an old feed
        while not self._stop.is_set():
            try:
                changes = watch.wait(HEARTBEAT_S / 4)
            except StoreError:
                changes = []
                self._stop.wait(HEARTBEAT_S / 4)
            if changes:
                with self._lock:
                    wakes = [
                        self._waiters[c.turn_id]
                        for c in changes
                        if c.turn_id in self._waiters and not c.kind.startswith("owner.")
                    ]
                for wake in dict.fromkeys(wakes):
                    wake()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + HEARTBEAT_S
                self._beat()
            if time.monotonic() >= next_trim:
                next_trim = time.monotonic() + TRIM_EVERY_S
                try:
                    self.store.trim_changes(time.time())
                except StoreError:
                    pass  # a busy or closing store: the next minute tries again

    def _beat(self) -> None:
        from opscopilot.store import StoreError

        with self._lock:
            held = set(self._held)
        if not held:
            return
        try:
            renewed = self.store.heartbeat(self.identity.owner_id, now=time.time())
            if renewed >= len(held):
                return
            still = {
                turn_id
                for turn_id in held
                if (owner := self.store.turn_owner(turn_id)) is not None
                and owner.owner_id == self.identity.owner_id
            }
        except StoreError:
            return  # a busy or closing store: the next beat tries again within the lease
        with self._lock:
            self.lost |= held - still

    def close(self) -> None:
        """Stop the thread and give up every claim still held."""
        self._stop.set()
        with self._lock:
            pushed = self._watch if self._watch is not None and self._watch.pushed else None
        if pushed is not None:
            pushed.close()  # wakes the thread's wait on the server at once, not at its timeout
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        with self._lock:
            held = list(self._held)
            self._held.clear()
            self._waiters.clear()
            watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()
        from opscopilot.store import StoreError

        for turn_id in held:
            try:
                self.store.release_turn(turn_id, self.identity.owner_id, now=time.time())
            except StoreError:
                pass  # the lease runs out on its own
