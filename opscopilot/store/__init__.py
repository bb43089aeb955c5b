"""All state opscopilot keeps, in one SQLite file: `from opscopilot.store import Store`.

The names load on first use, so `opscopilot.store.db` (what the ledger needs) doesn't pull
in the whole store and the event vocabulary on the `prompt` start-up path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opscopilot.store.changes import ChangeWatch
    from opscopilot.store.errors import StoreError
    from opscopilot.store.owners import OwnerIdentity, TurnOwnedError
    from opscopilot.store.records import (
        AllowRule,
        ApprovalRecord,
        Change,
        JournalEntry,
        SessionRecord,
        TurnOwner,
        TurnRecord,
    )
    from opscopilot.store.store import Store

_EXPORTS = {
    "AllowRule": "opscopilot.store.records",
    "ApprovalRecord": "opscopilot.store.records",
    "Change": "opscopilot.store.records",
    "ChangeWatch": "opscopilot.store.changes",
    "OwnerIdentity": "opscopilot.store.owners",
    "TurnOwnedError": "opscopilot.store.owners",
    "TurnOwner": "opscopilot.store.records",
    "JournalEntry": "opscopilot.store.records",
    "SessionRecord": "opscopilot.store.records",
    "TurnRecord": "opscopilot.store.records",
    "Store": "opscopilot.store.store",
    "StoreError": "opscopilot.store.errors",
}

__all__ = [
    "AllowRule",
    "ApprovalRecord",
    "Change",
    "ChangeWatch",
    "JournalEntry",
    "OwnerIdentity",
    "SessionRecord",
    "Store",
    "StoreError",
    "TurnOwnedError",
    "TurnOwner",
    "TurnRecord",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'opscopilot.store' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
