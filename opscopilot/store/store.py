"""The Store facade: every piece of state opscopilot keeps, in one SQLite file or on a
PostgreSQL server shared by a team (`store/location.py` says which, `store/backend.py` hides
the difference).

Synchronous calls (sessions, turns, messages, journal, snapshots, approvals) are durable when
they return and first commit the events queued before them. `append_event` only queues: a
writer thread commits events in batches so a stream never waits on the disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opscopilot.events import EVENT_ADAPTER, Event
from opscopilot.llm.types import ErrorInfo, Message, TextPart, ToolCallPart, ToolResultPart, Usage
from opscopilot.redact import redact, redact_value
from opscopilot.store import db, notify
from opscopilot.store.approvals import ApprovalsMixin
from opscopilot.store.backend import DatabaseError, IntegrityError
from opscopilot.store.base import dumps, loads
from opscopilot.store.changes import ChangesMixin, note_change
from opscopilot.store.effects import EffectsMixin
from opscopilot.store.errors import StoreError, from_exception, kind_of
from opscopilot.store.location import LocationError, StoreLocation, resolve
from opscopilot.store.owners import OwnersMixin
from opscopilot.store.records import FINISHED_TURN_STATES, SessionRecord, TurnRecord
from opscopilot.store.retention import RetentionMixin
from opscopilot.store.schema import CORE_STEPS, TRACK
from opscopilot.store.writer import EventWriter

_SESSION_SELECT = (
    "SELECT s.id, s.model, s.title, s.created_at, s.updated_at, "
    "(SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id) AS turn_count, "
    "(SELECT COALESCE(SUM(t.cost_usd), 0) FROM turns t WHERE t.session_id = s.id) AS cost_usd, "
    # turns that spent tokens with no known price: their cost is unknown, not 0
    "(SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id AND t.cost_usd IS NULL "
    "AND COALESCE({input_tokens}, 0) > 0) AS unpriced_turns "
    "FROM sessions s"
)
_TURN_COLUMNS = (
    "id, session_id, prompt, model, status, text, usage, cost_usd, error, created_at, updated_at, "
    "options"
)


def _turn(row: Any) -> TurnRecord:
    data = dict(row)
    data["usage"] = loads(data["usage"]) or {}
    data["error"] = loads(data["error"])
    data["options"] = loads(data["options"]) or {}
    return TurnRecord.model_validate(data)


def _redacted_message(message: Message) -> Message:
    """Mask secrets in a message's text, tool-call arguments and tool results (thinking is
    signed; left as is)."""
    parts: list[Any] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            part = part.model_copy(update={"text": redact(part.text)})
        elif isinstance(part, ToolResultPart):
            part = part.model_copy(update={"content": redact(part.content)})
        elif isinstance(part, ToolCallPart):
            part = part.model_copy(update={"arguments": redact_value(part.arguments)})
        parts.append(part)
    return message.model_copy(update={"parts": parts})


def _error_dict(error: ErrorInfo | dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(error, ErrorInfo):
        data = error.model_dump()
    elif isinstance(error, dict):
        data = dict(error)
    else:
        data = {"message": error}
    if isinstance(data.get("message"), str):
        data["message"] = redact(data["message"])
    return data


class Store(ApprovalsMixin, EffectsMixin, RetentionMixin, ChangesMixin, OwnersMixin):
    """Sessions, turns, messages, events, journal, snapshots, approvals, allow rules, turn
    owners and the change feed."""

    @classmethod
    def open(cls, path: StoreLocation | Path | str | None = None) -> Store:
        """Open (creating and migrating as needed) the store; safe from several processes.

        `path` is a SQLite file, a store URL or a location; None is the configured store
        (OPSCOPILOT_STORE, `[store] url`, or opscopilot.db in the data folder).
        """
        try:
            location = resolve(path)
        except LocationError as exc:
            raise StoreError("io", str(exc)) from None
        shown = location.display()
        try:
            conn = db.open_database(location)
        except db.StoreError as exc:
            raise StoreError(kind_of(str(exc)), redact(str(exc))) from None
        try:
            if location.backend == "sqlite":
                # Journal entries, snapshots and decisions must survive power loss, not
                # just a crash.
                conn.execute("PRAGMA synchronous = FULL")
            db.migrate(conn, TRACK, CORE_STEPS)
            db.migrate(conn, notify.TRACK, notify.STEPS)  # pushed changes (PostgreSQL)
            writer = EventWriter(location)
        except db.StoreError as exc:
            conn.close()
            kind = "version" if "newer than" in str(exc) else kind_of(str(exc))
            raise StoreError(kind, redact(str(exc))) from None
        except (DatabaseError, OSError) as exc:
            conn.close()
            raise from_exception(exc, f"cannot open database {shown}") from None
        return cls(location, conn, writer)

    def close(self) -> None:
        """Commit queued events and release both connections; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
        finally:
            with self._lock:
                self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- sessions -------------------------------------------------------------------------

    def create_session(
        self, session_id: str, model: str, title: str, created_at: float
    ) -> SessionRecord:
        with self._transaction(f"cannot create session {session_id}") as conn:
            try:
                conn.execute(
                    "INSERT INTO sessions (id, model, title, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [session_id, model, redact(title), created_at, created_at],
                )
            except IntegrityError:
                raise StoreError("conflict", f"session {session_id} already exists") from None
        return SessionRecord(
            id=session_id,
            model=model,
            title=redact(title),
            created_at=created_at,
            updated_at=created_at,
        )

    def _session_select(self) -> str:
        return _SESSION_SELECT.format(
            input_tokens=self._conn.json_number("t.usage", "input_tokens")
        )

    def get_session(self, session_id: str) -> SessionRecord | None:
        rows = self._query(f"{self._session_select()} WHERE s.id = ?", [session_id])
        return SessionRecord.model_validate(dict(rows[0])) if rows else None

    def list_sessions(self, limit: int = 50) -> list[SessionRecord]:
        """The most recently active sessions first."""
        rows = self._query(
            f"{self._session_select()} ORDER BY s.updated_at DESC, s.id LIMIT ?", [limit]
        )
        return [SessionRecord.model_validate(dict(row)) for row in rows]

    # --- turns ----------------------------------------------------------------------------

    def create_turn(
        self,
        turn_id: str,
        session_id: str,
        prompt: str,
        model: str,
        created_at: float,
        *,
        options: dict[str, Any] | None = None,
    ) -> TurnRecord:
        """A new turn in state "ready"; its session must exist. `options` are what it runs under."""
        prompt = redact(prompt)
        with self._transaction(f"cannot create turn {turn_id}") as conn:
            touched = conn.execute(
                f"UPDATE sessions SET updated_at = {conn.greatest}(updated_at, ?) WHERE id = ?",
                [created_at, session_id],
            )
            if touched.rowcount == 0:
                raise StoreError("not_found", f"no session {session_id}")
            try:
                conn.execute(
                    f"INSERT INTO turns ({_TURN_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, 'ready', '', NULL, NULL, NULL, ?, ?, ?)",
                    [
                        turn_id,
                        session_id,
                        prompt,
                        model,
                        created_at,
                        created_at,
                        dumps(options or {}),
                    ],
                )
            except IntegrityError:
                raise StoreError("conflict", f"turn {turn_id} already exists") from None
        return TurnRecord(
            id=turn_id,
            session_id=session_id,
            prompt=prompt,
            model=model,
            status="ready",
            created_at=created_at,
            updated_at=created_at,
            options=options or {},
        )

    def update_turn(
        self,
        turn_id: str,
        *,
        status: str,
        updated_at: float,
        text: str | None = None,
        usage: Usage | None = None,
        cost_usd: float | None = None,
        error: ErrorInfo | dict[str, Any] | str | None = None,
    ) -> None:
        """Move a turn to `status`; the other fields change only when given."""
        assignments = ["status = ?", "updated_at = ?"]
        params: list[Any] = [status, updated_at]
        if text is not None:
            assignments.append("text = ?")
            params.append(text)
        if usage is not None:
            assignments.append("usage = ?")
            params.append(usage.model_dump_json())
        if cost_usd is not None:
            assignments.append("cost_usd = ?")
            params.append(cost_usd)
        if error is not None:
            assignments.append("error = ?")
            params.append(dumps(_error_dict(error)))
        with self._transaction(f"cannot update turn {turn_id}") as conn:
            row = conn.execute("SELECT session_id FROM turns WHERE id = ?", [turn_id]).fetchone()
            if row is None:
                raise StoreError("not_found", f"no turn {turn_id}")
            conn.execute(
                f"UPDATE turns SET {', '.join(assignments)} WHERE id = ?", [*params, turn_id]
            )
            conn.execute(
                f"UPDATE sessions SET updated_at = {conn.greatest}(updated_at, ?) WHERE id = ?",
                [updated_at, row["session_id"]],
            )
            note_change(
                conn,
                "turn.updated",
                turn_id,
                session_id=row["session_id"],
                turn_id=turn_id,
                at=updated_at,
            )

    def get_turn(self, turn_id: str) -> TurnRecord | None:
        rows = self._query(f"SELECT {_TURN_COLUMNS} FROM turns WHERE id = ?", [turn_id])
        return _turn(rows[0]) if rows else None

    def list_turns(self, session_id: str) -> list[TurnRecord]:
        rows = self._query(
            f"SELECT {_TURN_COLUMNS} FROM turns WHERE session_id = ? ORDER BY created_at, rowid",
            [session_id],
        )
        return [_turn(row) for row in rows]

    def list_unfinished_turns(self) -> list[TurnRecord]:
        """Turns not in a final state (paused for approval, or interrupted): resume candidates."""
        marks = ", ".join("?" * len(FINISHED_TURN_STATES))
        rows = self._query(
            f"SELECT {_TURN_COLUMNS} FROM turns WHERE status NOT IN ({marks}) "
            "ORDER BY created_at, rowid",
            sorted(FINISHED_TURN_STATES),
        )
        return [_turn(row) for row in rows]

    # --- messages -------------------------------------------------------------------------

    def append_message(
        self, session_id: str, turn_id: str | None, message: Message, created_at: float
    ) -> None:
        message = _redacted_message(message)
        with self._transaction(f"cannot store a message of session {session_id}") as conn:
            conn.execute(
                "INSERT INTO messages (session_id, turn_id, role, message, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [session_id, turn_id, message.role, message.model_dump_json(), created_at],
            )

    def messages(self, session_id: str, *, turn_id: str | None = None) -> list[Message]:
        """A session's conversation in the order it was stored (one turn's, when given)."""
        sql = "SELECT message FROM messages WHERE session_id = ?"
        params: list[Any] = [session_id]
        if turn_id is not None:
            sql += " AND turn_id = ?"
            params.append(turn_id)
        rows = self._query(sql + " ORDER BY seq", params)
        return [Message.model_validate_json(row["message"]) for row in rows]

    def count_messages(self, session_id: str, turn_id: str) -> int:
        rows = self._query(
            "SELECT COUNT(*) AS n FROM messages WHERE session_id = ? AND turn_id = ?",
            [session_id, turn_id],
        )
        return int(rows[0]["n"])

    def messages_before(
        self, session_id: str, turn_id: str, known: dict[int, Message] | None = None
    ) -> dict[int, Message]:
        """The messages of the session's turns before `turn_id` (all of them when it is not
        stored yet), in turn order, by seq. One query; rows in `known` are not decoded again
        (stored messages never change)."""
        rows = self._query(
            "SELECT m.seq, m.message FROM turns t JOIN messages m ON m.turn_id = t.id "
            "WHERE t.session_id = ? AND m.session_id = ? AND NOT EXISTS ("
            "SELECT 1 FROM turns c WHERE c.id = ? "
            "AND (t.created_at > c.created_at "
            "OR (t.created_at = c.created_at AND t.rowid >= c.rowid))) "
            "ORDER BY t.created_at, t.rowid, m.seq",
            [session_id, session_id, turn_id],
        )
        known = known or {}
        return {
            row["seq"]: known[row["seq"]]
            if row["seq"] in known
            else Message.model_validate_json(row["message"])
            for row in rows
        }

    # --- events ---------------------------------------------------------------------------

    def append_event(self, event: Event) -> None:
        """Queue an event for the writer thread; returns at once, never waits on the disk."""
        self._check_open()
        self._writer.append(
            (event.ts, event.session_id, event.turn_id, event.type, event.model_dump_json())
        )

    def events(
        self,
        *,
        session_id: str | None = None,
        turn_id: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[tuple[int, Event]]:
        """Stored events with their sequence numbers, oldest first (queued ones are flushed)."""
        self.flush()
        clauses, params = ["seq > ?"], [after_seq]
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        if turn_id is not None:
            clauses.append("turn_id = ?")
            params.append(turn_id)
        sql = f"SELECT seq, data FROM events WHERE {' AND '.join(clauses)} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._query(sql, params)
        return [(row["seq"], EVENT_ADAPTER.validate_json(row["data"])) for row in rows]

    def tool_runs(self, *, since: float = 0.0) -> list[dict[str, Any]]:
        """Every tool call that finished since `since` (for the audit): what ran, with which
        arguments, at what risk, and how it ended, oldest first."""
        self.flush()
        rows = self._query(
            "SELECT type, data FROM events WHERE type IN ('tool.proposed', 'tool.finished') "
            "AND ts >= ? ORDER BY seq",
            # A call proposed a while before the window may finish inside it.
            [since - 86_400.0],
        )
        proposed: dict[tuple[str | None, str], Any] = {}
        runs: list[dict[str, Any]] = []
        for row in rows:
            event: Any = EVENT_ADAPTER.validate_json(row["data"])
            key = (event.turn_id, event.tool_call_id)
            if event.type == "tool.proposed":
                proposed[key] = event
                continue
            if event.ts < since:
                continue
            asked = proposed.get(key)
            runs.append(
                {
                    "type": "tool_run",
                    "at": event.ts,
                    "session_id": event.session_id,
                    "turn_id": event.turn_id,
                    "id": event.tool_call_id,
                    "tool": event.name,
                    "arguments": asked.arguments if asked else None,
                    "risk": asked.risk if asked else None,
                    "status": event.status,
                    "reason": asked.reason if asked else "",
                }
            )
        return runs

    def last_event_seq(self) -> int:
        """The newest committed event's sequence number (0 when there are none)."""
        rows = self._query("SELECT COALESCE(MAX(seq), 0) AS seq FROM events")
        return int(rows[0]["seq"])
