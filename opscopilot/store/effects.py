"""The journal (exactly-once effects) and turn snapshots: durable when their calls return."""

from __future__ import annotations

from typing import Any

from opscopilot.store.base import StoreBase, dumps, loads
from opscopilot.store.errors import StoreError
from opscopilot.store.records import JournalEntry

_JOURNAL_COLUMNS = "effect_id, turn_id, kind, payload, status, result, created_at, finished_at"


def _entry(row: Any) -> JournalEntry:
    data = dict(row)
    data["payload"] = loads(data["payload"])
    data["result"] = loads(data["result"])
    return JournalEntry.model_validate(data)


class EffectsMixin(StoreBase):
    """The journal and snapshots part of the Store facade."""

    def journal_intent(
        self, turn_id: str, effect_id: str, kind: str, payload: dict[str, Any], created_at: float
    ) -> bool:
        """Record that an effect is about to run; False when `effect_id` already has an intent."""
        with self._transaction(f"cannot journal effect {effect_id}") as conn:
            cursor = conn.execute(
                f"INSERT INTO journal ({_JOURNAL_COLUMNS}) "
                "VALUES (?, ?, ?, ?, 'intent', NULL, ?, NULL) ON CONFLICT (effect_id) DO NOTHING",
                [effect_id, turn_id, kind, dumps(payload), created_at],
            )
            return cursor.rowcount == 1

    def journal_result(
        self, effect_id: str, *, status: str, result: dict[str, Any], finished_at: float
    ) -> None:
        """Record an effect's outcome; its result is final (a second one is a conflict)."""
        if status == "intent":
            raise ValueError("a journal result's status cannot be 'intent'")
        with self._transaction(f"cannot journal the result of effect {effect_id}") as conn:
            row = conn.execute(
                f"SELECT status FROM journal WHERE effect_id = ?{conn.for_update}", [effect_id]
            ).fetchone()
            if row is None:
                raise StoreError("not_found", f"no journal intent for effect {effect_id}")
            if row["status"] != "intent":
                raise StoreError(
                    "conflict", f"effect {effect_id} already has a result ({row['status']})"
                )
            conn.execute(
                "UPDATE journal SET status = ?, result = ?, finished_at = ? WHERE effect_id = ?",
                [status, dumps(result), finished_at, effect_id],
            )

    def journal_entry(self, effect_id: str) -> JournalEntry | None:
        rows = self._query(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE effect_id = ?", [effect_id]
        )
        return _entry(rows[0]) if rows else None

    def journal(self, turn_id: str) -> list[JournalEntry]:
        """A turn's effects in the order their intents were recorded."""
        rows = self._query(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE turn_id = ? ORDER BY created_at, rowid",
            [turn_id],
        )
        return [_entry(row) for row in rows]

    def save_snapshot(self, turn_id: str, state: dict[str, Any], saved_at: float) -> None:
        """Keep a turn's state (the latest wins); durable when this returns."""
        with self._transaction(f"cannot save the snapshot of turn {turn_id}") as conn:
            conn.execute(
                "INSERT INTO snapshots (turn_id, state, saved_at) VALUES (?, ?, ?) "
                "ON CONFLICT(turn_id) DO UPDATE SET state = excluded.state, "
                "saved_at = excluded.saved_at",
                [turn_id, dumps(state), saved_at],
            )

    def load_snapshot(self, turn_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT state FROM snapshots WHERE turn_id = ?", [turn_id])
        return loads(rows[0]["state"]) if rows else None
