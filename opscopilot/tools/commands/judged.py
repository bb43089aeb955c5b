"""The verdict a per-program rule returns, and small constructors the rule modules share."""

from __future__ import annotations

from dataclasses import dataclass

from opscopilot.tools.argv_parsing import ParsedArgs
from opscopilot.tools.base import Risk


@dataclass(frozen=True)
class Judged:
    """A rule's verdict; `inner` is an argv the command runs (kubectl exec, find -exec)."""

    risk: Risk
    reason: str
    inner: list[str] | None = None


def read(reason: str) -> Judged:
    return Judged("read", reason)


def write(reason: str) -> Judged:
    return Judged("write", reason)


def destructive(reason: str) -> Judged:
    return Judged("destructive", reason)


def first(parsed: ParsedArgs) -> str:
    """The first positional word (the subcommand), or ""."""
    return parsed.positionals[0] if parsed.positionals else ""
