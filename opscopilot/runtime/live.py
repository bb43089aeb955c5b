"""What the runtime's collaborators share: a turn being driven, ids, who operates, and the
way a blocking store call leaves the event loop.

Nothing here imports the rest of the runtime: the driver, the model caller and the tool
caller all take a `LiveTurn` and are handed the rest when they are built.
"""

from __future__ import annotations

import functools
import getpass
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from opscopilot.agent import TurnState
from opscopilot.events import Event
from opscopilot.llm.types import Message
from opscopilot.redact import redact

if TYPE_CHECKING:
    from opscopilot.governance import Governor


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def operator_name() -> str:
    try:
        return os.environ.get("OPSCOPILOT_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


async def io(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking store call off the event loop."""
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))


def redacted(value: Any) -> Any:
    """Every string in a snapshot passed through redact (secrets never land on disk)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


@dataclass
class LiveTurn:
    """A turn being driven in this process."""

    state: TurnState
    history: list[Message]
    publish: Callable[[Event], None]
    wait_for_approval: bool = False
    priority: str = "interactive"
    governor: Governor | None = None
    scope: anyio.CancelScope | None = None
    cancel_reason: str | None = None
    wake: anyio.Event = field(default_factory=anyio.Event)
    next_deadline: float | None = None  # the earliest expiry among its pending approvals
    told_lapsed: set[str] = field(default_factory=set)  # kept lapsed approvals already announced
