"""The runtime: interprets the agent core's directives with real models, tools and SQLite.

`Runtime.start_turn` / `resume` / `cancel` / `decide`; every event also goes to an
in-process `EventBus` (`bus.subscribe()`), which the TUI renders.
"""

from __future__ import annotations

from .bus import EventBus, Subscription
from .errors import RuntimeFailure
from .outcome import EXIT_CODES, ToolCallOutcome, TurnOutcome
from .runtime import APPROVE_MODES, Runtime

__all__ = [
    "APPROVE_MODES",
    "EXIT_CODES",
    "EventBus",
    "Runtime",
    "RuntimeFailure",
    "Subscription",
    "ToolCallOutcome",
    "TurnOutcome",
]
