"""A batch run's progress lives in the store (opscopilot/store/batch.py); the names batch uses."""

from __future__ import annotations

from opscopilot.store.batch import (
    LEASE_S,
    MIGRATIONS,
    BatchState,
    Item,
    RunMismatch,
    Totals,
    Worker,
    named_run_key,
    run_key,
)

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
