"""A batch run's progress lives in the store (opscopilot/store/batch.py); the names batch uses."""

from __future__ import annotations

from opscopilot.store.batch import (
    MIGRATIONS,
    BatchState,
    RunMismatch,
    Totals,
    named_run_key,
    run_key,
)
from opscopilot.store.batch_claims import LEASE_S, Item, Worker

__all__ = [
    "LEASE_S",
    "MIGRATIONS",
    "BatchState",
    "Item",
    "RunMismatch",
    "Totals",
    "Worker",
    "named_run_key",
    "run_key",
]
