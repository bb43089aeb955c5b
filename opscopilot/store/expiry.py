"""Expiry that acts: `[approvals] on_expiry = "deny"` records lapsed approvals as expired.

An expired approval is a denial: its call never runs, and the turn's owner continues the turn
without it. With "deny" (the default) a sweeper in `opscopilot serve` and the wait loop of every
owner record the expiry within a second of the deadline, even when nobody reads the approval;
with "keep" nothing acts on the deadline (the approval stays pending, reads expired and can no
longer be approved; a decision tried later records the expiry, and the turn goes on then).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from opscopilot.store import ApprovalRecord, Store

OnExpiry = Literal["deny", "keep"]
EXPIRY_OPERATOR = "opscopilot"


def on_expiry() -> OnExpiry:
    """`[approvals] on_expiry` from config.toml ("deny" unless it says "keep")."""
    from opscopilot import config

    value = config.section("approvals").get("on_expiry", "deny")
    if value not in ("deny", "keep"):
        raise config.ConfigError(
            f'{config.config_path()}: [approvals] on_expiry must be "deny" or "keep"'
        )
    return value


def record_expiries(store: Store, now: float) -> list[ApprovalRecord]:
    """Record every lapsed pending approval as expired; the records written (others' races lost
    quietly: a decision that got there first stands)."""
    from opscopilot.store import StoreError

    recorded = []
    host = socket.gethostname()
    for lapsed in store.lapsed_approvals(now):
        try:
            recorded.append(
                store.decide_approval(
                    lapsed.id,
                    decision="expired",
                    operator=EXPIRY_OPERATOR,
                    host=host,
                    reason="no decision in time",
                    decided_at=now,
                    channel="runtime",
                )
            )
        except StoreError as exc:
            if exc.kind != "conflict":
                raise
    return recorded
