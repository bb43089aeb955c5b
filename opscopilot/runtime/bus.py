"""The in-process event bus: every event the runtime publishes, fanned out to subscribers.

The TUI subscribes and renders; the CLI subscribes and prints. Publishing never waits: a
subscriber that stops reading loses the oldest events beyond its buffer rather than
stalling a stream (the Store holds the complete record).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

import anyio

from opscopilot.events import Event

DEFAULT_BUFFER = 10_000


class Subscription:
    """One subscriber's queue; iterate it with `async for`, close it with `close()`."""

    def __init__(self, bus: EventBus, buffer: int) -> None:
        self._bus = bus
        self._queue: deque[Event] = deque(maxlen=buffer)
        self._ready = anyio.Event()
        self._closed = False
        self.dropped = 0

    def _put(self, event: Event) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._bus._subscribers.discard(self)
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            await self._ready.wait()
            self._ready = anyio.Event()
        return self._queue.popleft()

    def drain(self) -> list[Event]:
        """Everything queued right now, without waiting."""
        events = list(self._queue)
        self._queue.clear()
        return events


class EventBus:
    """Fan-out of runtime events to any number of in-process subscribers."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self, buffer: int = DEFAULT_BUFFER) -> Subscription:
        subscription = Subscription(self, buffer)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, event: Event) -> None:
        for subscription in list(self._subscribers):
            subscription._put(event)

    def close(self) -> None:
        """End every subscriber's iteration once it has read what is queued."""
        for subscription in list(self._subscribers):
            subscription.close()
