"""The runtime's one exception: a kind the CLI and the TUI can act on, and one readable line."""

from __future__ import annotations

from typing import Literal

RuntimeFailureKind = Literal["usage", "not_found", "busy", "config", "owned"]


class RuntimeFailure(Exception):
    """A turn could not be started or resumed (bad input, unknown id, already running here,
    owned by another live process)."""

    def __init__(self, kind: RuntimeFailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: RuntimeFailureKind = kind
        self.message = message
