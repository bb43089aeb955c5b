"""The governance layer's one exception, with a kind the caller can act on."""

from __future__ import annotations

from typing import Literal

GovernanceErrorKind = Literal[
    "queue_full",  # the scheduler's queue is full: refused at once, try later
    "cancelled",  # a queued call was cancelled before it started
    "budget",  # a cap refuses the call before it starts
    "unknown_price",  # a cap is set but the model has no price, so it cannot be enforced
    "bad_cap",  # a cap value in flags, environment, config or `budget set` is not valid
    "bad_request",
    "io",  # the ledger could not be read or written
]


class GovernanceError(Exception):
    """Budgets and the queue refused or failed; the message is one readable line."""

    def __init__(self, kind: GovernanceErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: GovernanceErrorKind = kind
        self.message = message
