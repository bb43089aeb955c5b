"""The tools layer's one exception: a kind the caller can act on and a one-line message."""

from __future__ import annotations

from typing import Literal

ToolErrorKind = Literal["unknown_tool", "invalid_arguments", "bad_config", "bad_mode"]


class ToolError(Exception):
    """A tool could not be found, configured or called; `str(error)` is one readable line."""

    def __init__(self, kind: ToolErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ToolErrorKind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"ToolError({self.kind!r}, {self.message!r})"
