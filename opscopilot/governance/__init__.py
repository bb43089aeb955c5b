"""Cost governance and the queue: the usage ledger, caps, estimates, the stream guard that
stops a call mid-flight, the scheduler every model call passes, and its metrics.

See docs/budgets-and-queue.md. Nothing here imports Textual or a provider adapter.
"""

from __future__ import annotations

from opscopilot.governance.caps import ENV_VARS, Caps, load_caps
from opscopilot.governance.errors import GovernanceError
from opscopilot.governance.estimate import (
    Preflight,
    estimate_prompt_tokens,
    estimate_text_tokens,
    preflight,
)
from opscopilot.governance.governor import Governor
from opscopilot.governance.guard import guard_stream
from opscopilot.governance.ledger import Ledger, LedgerRow, Spent, utc_day
from opscopilot.governance.metrics import Meter, publish_metrics, spend_against_caps
from opscopilot.governance.scheduler import Scheduler, SchedulerLimits, Ticket, default_scheduler

__all__ = [
    "ENV_VARS",
    "Caps",
    "GovernanceError",
    "Governor",
    "Ledger",
    "LedgerRow",
    "Meter",
    "Preflight",
    "Scheduler",
    "SchedulerLimits",
    "Spent",
    "Ticket",
    "default_scheduler",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "guard_stream",
    "load_caps",
    "preflight",
    "publish_metrics",
    "spend_against_caps",
    "utc_day",
]
