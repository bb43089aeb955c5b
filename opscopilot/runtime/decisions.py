"""What a waiting turn reads when it looks at its approvals: the decisions made so far (in
any process), the expiries now due, and when to look again.

With `[approvals] on_expiry = "deny"` a lapsed approval is recorded here as expired (a
denial the turn goes on with). With "keep" nothing acts on the deadline: the approval stays
pending in the store until someone tries to decide it (which records the expiry); the turn
only says, once, that it lapsed and waits for a person.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opscopilot.agent import Action, ApprovalDecided, ApprovalExpired

if TYPE_CHECKING:
    from opscopilot.store import ApprovalRecord, Store


@dataclass
class Decisions:
    actions: list[Action] = field(default_factory=list)
    next_deadline: float | None = None  # the earliest expiry among those still pending
    lapsed_kept: list[ApprovalRecord] = field(default_factory=list)  # "keep": lapsed, pending


def read_decisions(
    store: Store, approval_ids: tuple[str, ...], now: float, *, record_lapsed: bool
) -> Decisions:
    """The decisions and due expiries of these approvals, as actions for the core (blocking).

    `record_lapsed` is on_expiry "deny": a pending approval past its deadline is recorded
    as expired now. Without it, such an approval is reported in `lapsed_kept` instead.
    """
    from opscopilot.store import StoreError

    found = Decisions()
    deadlines: list[float] = []
    for approval_id in approval_ids:
        record = store.get_approval(approval_id)
        if record is None:
            continue
        if record.status == "pending" and record.expires_at is not None:
            if not record.expired_at(now):
                deadlines.append(record.expires_at)  # wake then, to act on (or tell of) it
            elif not record_lapsed:
                found.lapsed_kept.append(record)
        if record_lapsed and record.expired_at(now):
            try:
                record = store.decide_approval(
                    approval_id,
                    decision="expired",
                    operator="opscopilot",
                    host=socket.gethostname(),
                    reason="no decision in time",
                    decided_at=now,
                    channel="runtime",
                )
            except StoreError as exc:
                if exc.kind != "conflict":
                    raise
                record = store.get_approval(approval_id)
                assert record is not None
        if record.status in ("approved", "denied"):
            edited = record.edited_arguments if record.status == "approved" else None
            found.actions.append(
                ApprovalDecided(
                    approval_id=approval_id,
                    decision=record.status,
                    call_hash=record.call_hash,
                    now=now,
                    arguments=edited,
                    reason=record.decision_reason,
                    operator=record.operator or "",
                    host=record.host or "",
                    channel=record.channel or "",
                )
            )
        elif record.status == "expired":
            waited = (record.expires_at or now) - record.requested_at
            found.actions.append(
                ApprovalExpired(approval_id=approval_id, now=now, after_s=round(waited, 1))
            )
    found.next_deadline = min(deadlines, default=None)
    return found
