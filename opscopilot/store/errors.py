"""The store's one exception, with a kind the caller can act on, and the driver-to-kind mapping."""

from __future__ import annotations

import errno

from opscopilot.redact import redact
from opscopilot.store import db
from opscopilot.store.backend import DatabaseError

# One class for the whole layer: db.StoreError carries the kind (see db.py).
StoreError = db.StoreError
StoreErrorKind = db.StoreErrorKind


def kind_of(text: str) -> StoreErrorKind:
    """Map SQLite's, PostgreSQL's (or the OS's) wording of a failure to a kind."""
    text = text.lower()
    if "disk is full" in text or "no space left" in text:
        return "disk_full"
    if "locked" in text or "busy" in text or "deadlock" in text or "lock timeout" in text:
        return "locked"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "corrupt"
    return "io"


def from_exception(exc: BaseException, doing: str) -> StoreError:
    """Turn a driver/OS error raised while `doing` something into a one-line StoreError."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        kind: StoreErrorKind = "disk_full"
    else:
        kind = kind_of(str(exc))
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if not isinstance(exc, DatabaseError) and "readonly" in detail:
        detail = f"{detail} (is the file or its folder read-only?)"
    line = f"{doing}: {detail}".replace("\n", " ")
    return StoreError(kind, redact(line))
