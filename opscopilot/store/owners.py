"""Turn ownership: at most one live process drives a turn, and a dead one is noticed.

An owner claims a turn (one transaction: read, judge, write; serialised by `BEGIN IMMEDIATE`
on SQLite and by an advisory lock per turn on PostgreSQL) and keeps a heartbeat; a claim held by someone else is refused while that owner is alive. An owner is
stale, and its turn may be taken over, when its heartbeat is older than the lease, or when
it ran in this pid space (same host, boot and pid namespace: store/pidspace.py) and its
process is gone. `host` holds that pid space; operators are shown its hostname.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from opscopilot.store.base import StoreBase
from opscopilot.store.changes import note_change
from opscopilot.store.errors import StoreError
from opscopilot.store.pidspace import pid_space
from opscopilot.store.records import TurnOwner

LEASE_S = 5.0  # an owner silent this long is presumed gone
HEARTBEAT_S = 1.0  # how often a live owner says so

_OWNER_COLUMNS = "turn_id, owner_id, kind, pid, host, operator, claimed_at, heartbeat_at"


@dataclass(frozen=True)
class OwnerIdentity:
    """Who claims turns: one per process part (a TUI, a batch run, a `resume`)."""

    kind: str  # tui | batch | resume | run | web
    operator: str = ""
    owner_id: str = field(default_factory=lambda: f"o-{uuid.uuid4().hex[:12]}")
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=pid_space)  # where `pid` means something


class TurnOwnedError(StoreError):
    """The turn is driven by another live process (`owner` says which)."""

    def __init__(self, owner: TurnOwner, now: float) -> None:
        super().__init__(
            "conflict", f"turn {owner.turn_id} is being driven by {owner.describe(now)}"
        )
        self.owner = owner


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def owner_alive(owner: TurnOwner, now: float, *, lease_s: float = LEASE_S) -> bool:
    """Alive: a heartbeat within the lease and, in this pid space, a running process."""
    if now - owner.heartbeat_at > lease_s:
        return False
    if owner.host == pid_space() and owner.pid != os.getpid():
        return _pid_alive(owner.pid)
    return True


def _owner(row: Any) -> TurnOwner:
    return TurnOwner.model_validate(dict(row))


class OwnersMixin(StoreBase):
    """The turn-ownership part of the Store facade."""

    def claim_turn(
        self, turn_id: str, owner: OwnerIdentity, *, now: float, lease_s: float = LEASE_S
    ) -> TurnOwner:
        """Make `owner` the turn's owner, or raise TurnOwnedError while a live other owns it.

        Claiming again as the same owner renews the claim; a stale owner is replaced.
        """
        with self._transaction(f"cannot claim turn {turn_id}") as conn:
            conn.lock(f"opscopilot-owner:{turn_id}")  # two claims of one turn never interleave
            row = conn.execute(
                f"SELECT {_OWNER_COLUMNS} FROM turn_owners WHERE turn_id = ?", [turn_id]
            ).fetchone()
            if row is not None:
                current = _owner(row)
                if current.owner_id != owner.owner_id and owner_alive(
                    current, now, lease_s=lease_s
                ):
                    raise TurnOwnedError(current, now)
            session = conn.execute(
                "SELECT session_id FROM turns WHERE id = ?", [turn_id]
            ).fetchone()
            conn.execute(
                f"INSERT INTO turn_owners ({_OWNER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(turn_id) DO UPDATE SET owner_id = excluded.owner_id, "
                "kind = excluded.kind, pid = excluded.pid, host = excluded.host, "
                "operator = excluded.operator, claimed_at = excluded.claimed_at, "
                "heartbeat_at = excluded.heartbeat_at",
                [
                    turn_id,
                    owner.owner_id,
                    owner.kind,
                    owner.pid,
                    owner.host,
                    owner.operator,
                    now,
                    now,
                ],
            )
            note_change(
                conn,
                "owner.claimed",
                turn_id,
                session_id=session["session_id"] if session else None,
                turn_id=turn_id,
                at=now,
            )
        return TurnOwner(
            turn_id=turn_id,
            owner_id=owner.owner_id,
            kind=owner.kind,
            pid=owner.pid,
            host=owner.host,
            operator=owner.operator,
            claimed_at=now,
            heartbeat_at=now,
        )

    def heartbeat(self, owner_id: str, *, now: float) -> int:
        """Renew every claim `owner_id` holds; how many it still holds (0: all taken over)."""
        with self._transaction("cannot renew turn ownership") as conn:
            cursor = conn.execute(
                "UPDATE turn_owners SET heartbeat_at = ? WHERE owner_id = ?", [now, owner_id]
            )
            return cursor.rowcount

    def release_turn(self, turn_id: str, owner_id: str, *, now: float) -> bool:
        """Give a turn up (only if `owner_id` still holds it); False when it did not."""
        with self._transaction(f"cannot release turn {turn_id}") as conn:
            cursor = conn.execute(
                "DELETE FROM turn_owners WHERE turn_id = ? AND owner_id = ?", [turn_id, owner_id]
            )
            if cursor.rowcount == 0:
                return False
            session = conn.execute(
                "SELECT session_id FROM turns WHERE id = ?", [turn_id]
            ).fetchone()
            note_change(
                conn,
                "owner.released",
                turn_id,
                session_id=session["session_id"] if session else None,
                turn_id=turn_id,
                at=now,
            )
            return True

    def turn_owner(self, turn_id: str) -> TurnOwner | None:
        """The recorded owner, alive or not (judge with `owner_alive`)."""
        rows = self._query(f"SELECT {_OWNER_COLUMNS} FROM turn_owners WHERE turn_id = ?", [turn_id])
        return _owner(rows[0]) if rows else None

    def live_owner(self, turn_id: str, *, now: float, lease_s: float = LEASE_S) -> TurnOwner | None:
        """The owner if it is alive, else None (nobody drives the turn)."""
        owner = self.turn_owner(turn_id)
        if owner is None or not owner_alive(owner, now, lease_s=lease_s):
            return None
        return owner
