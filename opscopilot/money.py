"""How a cost in USD reads wherever the operator sees one (tables, reports, progress lines).

A model with no known price has an unknown cost (None), never $0; a total that includes
such parts is a lower bound and says how many parts it could not price. Plain functions,
no imports: the batch report and every command share them.
"""

from __future__ import annotations

UNKNOWN = "unknown"


def money(value: float | None, *, spent_tokens: bool = True, digits: int = 4) -> str:
    """USD with `digits` decimals; a cost that is None is unknown (never shown as $0), and
    "—" only for something that spent no tokens at all."""
    if value is None:
        return UNKNOWN if spent_tokens else "—"
    return f"${value:.{digits}f}"


def money_total(known_usd: float, unknown_parts: int, *, digits: int = 4) -> str:
    """A sum where `unknown_parts` of its parts had no price: "≥ $0.0123, 2 unknown", or
    "unknown" when nothing in it was priced."""
    if not unknown_parts:
        return money(known_usd, digits=digits)
    if known_usd == 0:
        return UNKNOWN
    return f"≥ {money(known_usd, digits=digits)}, {unknown_parts} {UNKNOWN}"
