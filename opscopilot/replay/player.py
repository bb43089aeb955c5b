"""Plays a recording's events back in time: 1× up to as fast as possible, pause, step, seek.

The player only times and hands out events; whoever renders them (the TUI's widgets,
the headless transcript) is the same code that renders a live session.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from opscopilot.events import Event
from opscopilot.replay.recording import Recording

MAX_SPEED = None  # no waiting between events


class Player:
    """Controls are safe to call from the event loop while `play` runs."""

    def __init__(self, recording: Recording, *, speed: float | None = 1.0) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None for as fast as possible)")
        self.recording = recording
        self.speed = speed
        self.position = 0  # index of the next event to emit
        self._paused = False
        self._wake = anyio.Event()
        self._step_budget = 0

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def finished(self) -> bool:
        return self.position >= len(self.recording.events)

    def pause(self) -> None:
        self._paused = True
        self._poke()  # a wait for the next event's time ends now, not when it is due

    def resume(self) -> None:
        self._paused = False
        self._poke()

    def toggle(self) -> None:
        self.resume() if self._paused else self.pause()

    def step(self, count: int = 1) -> None:
        """While paused, let `count` more events through."""
        self._step_budget += count
        self._poke()

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        self._poke()

    def seek(self, index: int) -> None:
        """Jump so the next event emitted is `index` (the caller re-renders from scratch)."""
        self.position = max(0, min(index, len(self.recording.events)))
        self._poke()

    def _poke(self) -> None:
        self._wake.set()
        self._wake = anyio.Event()

    async def play(self, emit: Callable[[Event], Awaitable[None] | None]) -> None:
        events = self.recording.events
        anchor_wall = time.monotonic()
        anchor_offset = events[self.position].offset if not self.finished else 0.0
        while not self.finished:
            if self._paused and self._step_budget <= 0:
                self._step_budget = 0
                await self._wake.wait()
                anchor_wall, anchor_offset = time.monotonic(), events[self.position].offset
                continue
            timed = events[self.position]
            if self.speed is not None and not self._paused:
                due = anchor_wall + (timed.offset - anchor_offset) / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    wake = self._wake
                    with anyio.move_on_after(delay):
                        await wake.wait()
                    if wake.is_set():  # a control changed things: re-anchor and look again
                        anchor_wall, anchor_offset = time.monotonic(), events[self.position].offset
                        continue
            if self._paused:
                self._step_budget -= 1
            self.position += 1
            result = emit(timed.event)
            if result is not None:
                await result
        return None
