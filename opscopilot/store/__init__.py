"""All state opscopilot keeps, in one SQLite file: `from opscopilot.store import Store`."""

from __future__ import annotations

from opscopilot.store.errors import StoreError
from opscopilot.store.records import (
    AllowRule,
    ApprovalRecord,
    JournalEntry,
    SessionRecord,
    TurnRecord,
)
from opscopilot.store.store import Store

__all__ = [
    "AllowRule",
    "ApprovalRecord",
    "JournalEntry",
    "SessionRecord",
    "Store",
    "StoreError",
    "TurnRecord",
]
