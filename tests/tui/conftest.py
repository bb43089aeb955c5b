"""TUI test support: an engine over the REAL store whose turns play a constructed sequence
of real events (opscopilot/events.py), so the view is tested without a model."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from textual.pilot import Pilot, WaitForScreenTimeout

from opscopilot import events as ev
from opscopilot.tui.app import OpsCopilotApp, create_app
from opscopilot.tui.runtime_engine import RuntimeEngine

FIXED_NOW = 1_750_000_000.0

# Pilot waits at most 30 s for the widgets to drain their messages before it raises; on a CI
# machine running several suites at once (load 20 on 2 cores) that is slow, not broken. Our
# `wait_for` bounds each test's wait instead.
Pilot._wait_for_screen.__defaults__ = (300.0,)

Script = Callable[[str, str, str, str], list[ev.Event]]


def answer_script(text_pieces: list[str], *, cost: float = 0.0021) -> Script:
    """A turn that streams `text_pieces`, runs one read tool, and completes."""

    def script(session_id: str, turn_id: str, prompt: str, model: str) -> list[ev.Event]:
        ids = {"ts": FIXED_NOW, "session_id": session_id, "turn_id": turn_id}
        call = f"call-{turn_id}"
        provider, _, name = model.partition(":")
        events: list[ev.Event] = [
            ev.TurnStarted(**ids, prompt=prompt, model=model),
            ev.ModelCallStarted(**ids, call_id=call, provider=provider, model=name),
        ]
        events += [ev.ModelText(**ids, call_id=call, text=piece) for piece in text_pieces]
        events += [
            ev.ModelUsage(
                **ids, call_id=call, usage={"output_tokens": 40}, cost_usd=cost, estimated=True
            ),
            ev.ModelFinished(
                **ids,
                call_id=call,
                provider=provider,
                model=name,
                finish_reason="tool_calls",
                usage={"input_tokens": 120, "output_tokens": 40},
                cost_usd=cost,
                cost_simulated=provider == "builtin",
            ),
            ev.ToolProposed(**ids, tool_call_id=f"tc-{turn_id}", name="system_info", risk="read"),
            ev.ToolStarted(**ids, tool_call_id=f"tc-{turn_id}", name="system_info"),
            ev.ToolOutput(**ids, tool_call_id=f"tc-{turn_id}", text="load 0.42 0.30 0.21\n"),
            ev.ToolFinished(
                **ids,
                tool_call_id=f"tc-{turn_id}",
                name="system_info",
                status="ok",
                content="load 0.42 0.30 0.21",
                duration_s=0.05,
            ),
            ev.TurnFinished(**ids, status="completed", text="".join(text_pieces), cost_usd=cost),
        ]
        return events

    return script


class ScriptedEngine(RuntimeEngine):
    """RuntimeEngine with the real Store; turns and resumes publish scripted events."""

    def __init__(self, script: Script, resume_script: Script | None = None) -> None:
        super().__init__()
        self.script = script
        self.resume_script = resume_script
        self.turns: list[tuple[str, str, str]] = []
        self.resumed: list[str] = []
        self._queue: asyncio.Queue[ev.Event] = asyncio.Queue()
        self._turn_ids = itertools.count(1)

    async def subscribe(self) -> AsyncIterator[ev.Event]:
        while True:
            yield await self._queue.get()

    async def publish(self, events: list[ev.Event]) -> None:
        for event in events:
            if event.turn_id:
                self.own_turns.add(event.turn_id)  # live here: the store copy is not foreign
            self.store.append_event(event)
            await self._queue.put(event)
            await asyncio.sleep(0)

    async def start_turn(self, session_id: str, prompt: str, *, model: str) -> None:
        self.turns.append((session_id, prompt, model))
        turn_id = f"turn-{next(self._turn_ids)}"
        await self.publish(self.script(session_id, turn_id, prompt, model))

    async def resume(self, turn_id: str) -> None:
        self.resumed.append(turn_id)
        if self.resume_script is not None:
            session_id = (
                self.store.get_turn(turn_id).session_id if self.store.get_turn(turn_id) else ""
            )
            await self.publish(self.resume_script(session_id, turn_id, "", "builtin:ops"))


def make_app(engine: ScriptedEngine, **options: Any) -> OpsCopilotApp:
    """The app as tests run it: fixed clock and ids, no cursor blink, fast polling."""
    counter = itertools.count(1)
    options.setdefault("model", "builtin:ops")
    options.setdefault("poll_interval", 0.2)
    return create_app(
        engine=engine,
        clock=lambda: FIXED_NOW,
        new_id=lambda prefix: f"{prefix}-{next(counter)}",
        deterministic=True,
        **options,
    )


@pytest.fixture
def engine() -> ScriptedEngine:
    scripted = ScriptedEngine(
        answer_script(["## Disk\n\n", "Root is **42%** full.\n\n", "```sh\ndf -h /\n```\n"])
    )
    yield scripted
    scripted.close()


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the app run until `condition` holds (the poll and workers are real).

    The timeout only bounds a test that is failing anyway: on a loaded CI machine a condition
    that holds in 0.1 s on a quiet one can take many seconds, so it is generous."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        try:
            await pilot.pause(0.05)
        except WaitForScreenTimeout:
            pass  # Textual's own 30 s wait ran out on a starved machine: keep waiting to ours


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


def keep_notifications(app: Any) -> list[str]:
    """Every message the app shows, kept: a toast expires after a few seconds, which a
    loaded machine can take between the app mounting and a test's check."""
    shown: list[str] = []
    notify = app.notify
    app.notify = lambda message, *args, **kwargs: (  # type: ignore[method-assign]
        shown.append(str(message)),
        notify(message, *args, **kwargs),
    )[1]
    return shown
