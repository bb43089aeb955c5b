"""Spending caps per call, turn, session and day, and where each one came from.

Precedence, per cap: command-line flag > environment > stored by `opscopilot budget set` >
config.toml `[budget]` > none. `--max-cost` on a command caps that command's whole work:
the call for `prompt`, the turn for `run` (the caller says which scope the flag means).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opscopilot import config
from opscopilot.governance.errors import GovernanceError
from opscopilot.governance.ledger import SCOPES, Scope, Spent

if TYPE_CHECKING:
    from opscopilot.governance.ledger import Ledger

DEFAULT_WARN_FRACTION = 0.8

# The environment variables that set each cap (documented in docs/budgets-and-queue.md).
ENV_VARS: dict[str, str] = {
    "call": "OPSCOPILOT_MAX_COST_PER_CALL",
    "turn": "OPSCOPILOT_MAX_COST_PER_TURN",
    "session": "OPSCOPILOT_MAX_COST_PER_SESSION",
    "day": "OPSCOPILOT_MAX_COST_PER_DAY",
    "warn": "OPSCOPILOT_BUDGET_WARN_FRACTION",
}
CONFIG_KEYS: dict[str, str] = {
    "call": "per_call",
    "turn": "per_turn",
    "session": "per_session",
    "day": "per_day",
    "warn": "warn_fraction",
}


@dataclass(frozen=True, slots=True)
class Caps:
    """USD limits (None = no cap) and the fraction of a cap at which a warning is published."""

    per_call: float | None = None
    per_turn: float | None = None
    per_session: float | None = None
    per_day: float | None = None
    warn_fraction: float = DEFAULT_WARN_FRACTION
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def cap(self, scope: Scope) -> float | None:
        return {
            "call": self.per_call,
            "turn": self.per_turn,
            "session": self.per_session,
            "day": self.per_day,
        }[scope]

    def limits(self) -> dict[Scope, float]:
        """Every cap that is set, by scope."""
        return {s: c for s in SCOPES if (c := self.cap(s)) is not None}

    @property
    def any(self) -> bool:
        return bool(self.limits())

    def headroom(self, spent: Spent) -> tuple[float, Scope] | None:
        """What one more call may still cost before the tightest cap, and which cap that is."""
        best: tuple[float, Scope] | None = None
        for scope, cap in self.limits().items():
            left = cap - spent_in(scope, spent)
            if best is None or left < best[0]:
                best = (left, scope)
        return best


def spent_in(scope: Scope, spent: Spent) -> float:
    """The spend before a call that counts against `scope` (a call starts at zero)."""
    return {"call": 0.0, "turn": spent.turn, "session": spent.session, "day": spent.day}[scope]


def parse_cap(value: Any, where: str) -> float | None:
    """A cap as written by an operator: a non-negative number of USD; "none"/"off"/"" = unset."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lstrip("$")
        if text.lower() in {"", "none", "off", "unlimited"}:
            return None
        value = text
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GovernanceError("bad_cap", f"{where}: {value!r} is not an amount in USD") from None
    if math.isnan(number) or number < 0 or math.isinf(number):
        raise GovernanceError("bad_cap", f"{where}: a cap must be a non-negative amount in USD")
    return number


def parse_warn_fraction(value: Any, where: str) -> float:
    number = parse_cap(value, where)
    if number is None:
        return DEFAULT_WARN_FRACTION
    if not 0 < number <= 1:
        raise GovernanceError("bad_cap", f"{where}: warn_fraction must be above 0 and at most 1")
    return number


def load_caps(
    flag_max_cost: float | str | None = None,
    *,
    flag_scope: Scope = "call",
    ledger: Ledger | None = None,
    environ: Mapping[str, str] | None = None,
    budget_section: Mapping[str, Any] | None = None,
) -> Caps:
    """Resolve every cap: flag > environment > stored (`budget set`) > config.toml > none."""
    environ = os.environ if environ is None else environ
    if budget_section is None:
        try:
            budget_section = config.section("budget")
        except config.ConfigError as exc:
            raise GovernanceError("bad_cap", str(exc)) from None
    stored = ledger.stored_caps() if ledger is not None else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for scope in (*SCOPES, "warn"):
        candidates: list[tuple[str, Any]] = []
        if scope == flag_scope and flag_max_cost is not None:
            candidates.append(("flag --max-cost", flag_max_cost))
        if environ.get(ENV_VARS[scope], "").strip():
            candidates.append((f"env {ENV_VARS[scope]}", environ[ENV_VARS[scope]]))
        if scope in stored:
            candidates.append(("budget set", stored[scope]))
        if budget_section.get(CONFIG_KEYS[scope]) is not None:
            candidates.append(
                (f"config.toml [budget] {CONFIG_KEYS[scope]}", budget_section[CONFIG_KEYS[scope]])
            )
        if not candidates:
            continue
        source, raw = candidates[0]
        if scope == "warn":
            values[scope] = parse_warn_fraction(raw, source)
        else:
            values[scope] = parse_cap(raw, source)
        sources[scope] = source
    return Caps(
        per_call=values.get("call"),
        per_turn=values.get("turn"),
        per_session=values.get("session"),
        per_day=values.get("day"),
        warn_fraction=values.get("warn", DEFAULT_WARN_FRACTION),
        sources=sources,
    )
