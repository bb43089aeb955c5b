"""Retention: old finished turns give up their event stream, snapshot and journal.

What a turn leaves behind grows the file by tens of KB (its events above all); what the
operator needs of it later is small: the turn's row (prompt, answer, status, cost), the
conversation (messages), the audit trail (approvals and who decided them) and the spend
(the ledger). `prune` deletes only the first kind, only for turns that finished before the
cutoff, never for a turn that may still move (paused, running, interrupted), and works in
small transactions so processes using the store meanwhile are never held up for long.
Plain SQL, so it ports to any backend.

The change feed (`changes`, store/changes.py) only wakes live watchers, who read it within a
poll interval of the commit; nothing reads an old row. `prune` drops the rows older than its
cut, and every live runtime trims the feed to its last `FEED_KEEP_S` about once a minute
(`trim_changes`, from its presence thread), so the feed stays small over a long shift
whether or not `keep_days` is set. A watcher that slept longer than that loses nothing it
needs: every waiter also rereads what it waits on every few seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from opscopilot.store.backend import DatabaseError
from opscopilot.store.base import StoreBase
from opscopilot.store.errors import from_exception
from opscopilot.store.records import FINISHED_TURN_STATES

DAY_S = 86_400.0
_FINISHED = tuple(sorted(FINISHED_TURN_STATES))
_FINISHED_SQL = ", ".join("?" * len(_FINISHED))
_CHUNK = 200  # turns per transaction
FEED_KEEP_S = 600.0  # change-feed rows younger than this are kept (a watch lags by ~50 ms)


def keep_days() -> float | None:
    """`[store] keep_days` from config.toml (None: keep everything)."""
    from opscopilot import config

    value = config.section("store").get("keep_days")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise config.ConfigError(
            f"{config.config_path()}: [store] keep_days must be a positive number of days"
        )
    return float(value)


@dataclass
class PruneResult:
    before: float
    turns: int = 0  # finished turns whose stream was removed
    events: int = 0
    snapshots: int = 0
    journal: int = 0
    changes: int = 0  # change-feed rows older than the cut
    kept_live: int = 0  # turns older than the cutoff left alone because they may still move
    vacuumed: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RetentionMixin(StoreBase):
    """The retention part of the Store facade."""

    def prune(self, before: float, *, vacuum: bool = False) -> PruneResult:
        """Remove events, snapshots and journal rows of turns finished before `before` (and
        the session-level events of sessions with nothing newer); keep everything else."""
        result = PruneResult(before=before)
        while True:
            rows = self._query(
                f"SELECT id FROM turns WHERE updated_at < ? AND status IN ({_FINISHED_SQL}) "
                "AND (EXISTS (SELECT 1 FROM events e WHERE e.turn_id = turns.id) "
                "OR EXISTS (SELECT 1 FROM snapshots s WHERE s.turn_id = turns.id) "
                "OR EXISTS (SELECT 1 FROM journal j WHERE j.turn_id = turns.id)) LIMIT ?",
                [before, *_FINISHED, _CHUNK],
            )
            if not rows:
                break
            ids = [row["id"] for row in rows]
            marks = ", ".join("?" * len(ids))
            with self._transaction("cannot prune the store") as conn:
                for table in ("events", "snapshots", "journal"):
                    deleted = conn.execute(f"DELETE FROM {table} WHERE turn_id IN ({marks})", ids)
                    setattr(result, table, getattr(result, table) + deleted.rowcount)
            result.turns += len(ids)
        with self._transaction("cannot prune the store") as conn:
            # A session's own events (turn_id NULL) go once none of its turns is newer or live.
            deleted = conn.execute(
                "DELETE FROM events WHERE turn_id IS NULL AND ts < ? AND (session_id IS NULL "
                "OR NOT EXISTS (SELECT 1 FROM turns t WHERE t.session_id = events.session_id "
                f"AND (t.updated_at >= ? OR t.status NOT IN ({_FINISHED_SQL}))))",
                [before, before, *_FINISHED],
            )
            result.events += deleted.rowcount
            deleted = conn.execute("DELETE FROM changes WHERE at < ?", [before])
            result.changes = deleted.rowcount
        live = self._query(
            f"SELECT COUNT(*) AS n FROM turns WHERE updated_at < ? AND status NOT IN ({_FINISHED_SQL})",
            [before, *_FINISHED],
        )
        result.kept_live = int(live[0]["n"])
        if vacuum:
            self._check_open()
            self._writer.flush()
            with self._lock:
                try:
                    self._conn.compact(("events", "snapshots", "journal"))
                except DatabaseError as exc:
                    raise from_exception(exc, "cannot compact the store") from None
            result.vacuumed = True
        return result

    def trim_changes(self, now: float, *, keep_s: float = FEED_KEEP_S) -> int:
        """Drop change-feed rows older than `keep_s` (one small DELETE: the feed holds only
        minutes of rows); how many went."""
        with self._transaction("cannot trim the change feed") as conn:
            return conn.execute("DELETE FROM changes WHERE at < ?", [now - keep_s]).rowcount

    def prune_by_policy(self, now: float | None = None) -> PruneResult | None:
        """Apply `[store] keep_days` (None when it is not set)."""
        days = keep_days()
        if days is None:
            return None
        now = time.time() if now is None else now
        return self.prune(now - days * DAY_S)


def prune_in_background() -> threading.Thread | None:
    """Apply `[store] keep_days` in a daemon thread with its own connection (the TUI calls
    this as it starts); None when no policy is set. A failure leaves the store as it was:
    every chunk is its own transaction."""
    if keep_days() is None:
        return None

    def work() -> None:
        from opscopilot.store.store import Store

        with Store.open() as store:
            store.prune_by_policy()

    thread = threading.Thread(target=work, name="opscopilot-prune", daemon=True)
    thread.start()
    return thread
