"""Approvals (with their audit trail) and the operators' always-allow rules."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any, Literal

from opscopilot.redact import redact
from opscopilot.store.backend import IntegrityError
from opscopilot.store.base import StoreBase, dumps, loads
from opscopilot.store.changes import note_change
from opscopilot.store.errors import StoreError
from opscopilot.store.records import AllowRule, ApprovalRecord, ApprovalStatus

Decision = Literal["approved", "denied", "expired"]

_APPROVAL_COLUMNS = (
    "id, session_id, turn_id, tool_call_id, tool, arguments, risk, reason, call_hash, "
    "original_call_hash, status, requested_at, expires_at, decided_at, operator, host, "
    "decision_reason, edited_arguments, channel"
)


def expire_after_s() -> float | None:
    """`[approvals] expire_after_s` from config.toml: how long a request may wait (None: forever)."""
    from opscopilot import config

    value = config.section("approvals").get("expire_after_s")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise config.ConfigError(
            f"{config.config_path()}: [approvals] expire_after_s must be a positive number"
        )
    return float(value)


def call_hash(tool: str, arguments: dict[str, Any]) -> str:
    """The hash an approval is bound to: the tools layer's when it has one, else the same rule
    (sha256 of the canonical JSON of name and arguments)."""
    try:
        from opscopilot.tools import call_hash as tools_call_hash  # type: ignore[attr-defined]
    except ImportError:
        canonical = json.dumps(
            {"name": tool, "arguments": arguments},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()
    return tools_call_hash(tool, arguments)


def when(ts: float) -> str:
    """A timestamp as operators read it in messages (UTC, to the second)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _approval(row: Any) -> ApprovalRecord:
    data = dict(row)
    data["arguments"] = loads(data["arguments"])
    data["edited_arguments"] = loads(data["edited_arguments"])
    return ApprovalRecord.model_validate(data)


class ApprovalsMixin(StoreBase):
    """The approvals and allow-rules part of the Store facade."""

    def create_approval(self, record: ApprovalRecord) -> ApprovalRecord:
        """Store a pending request; without an expires_at, config's expire_after_s sets one."""
        if record.expires_at is None and (after := expire_after_s()) is not None:
            record = record.model_copy(update={"expires_at": record.requested_at + after})
        if record.original_call_hash is None:
            record = record.model_copy(update={"original_call_hash": record.call_hash})
        values = record.model_dump()
        values["arguments"] = dumps(values["arguments"])
        values["edited_arguments"] = (
            None if values["edited_arguments"] is None else dumps(values["edited_arguments"])
        )
        names = [c.strip() for c in _APPROVAL_COLUMNS.split(",")]
        with self._transaction(f"cannot record approval {record.id}") as conn:
            try:
                conn.execute(
                    f"INSERT INTO approvals ({_APPROVAL_COLUMNS}) "
                    f"VALUES ({', '.join('?' * len(names))})",
                    [values[name] for name in names],
                )
            except IntegrityError:
                raise StoreError("conflict", f"approval {record.id} already exists") from None
            note_change(
                conn,
                "approval.requested",
                record.id,
                session_id=record.session_id,
                turn_id=record.turn_id,
                at=record.requested_at,
            )
        return record

    def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        rows = self._query(f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE id = ?", [approval_id])
        return _approval(rows[0]) if rows else None

    def list_approvals(
        self,
        *,
        status: ApprovalStatus | None = "pending",
        session_id: str | None = None,
        turn_id: str | None = None,
        now: float | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> list[ApprovalRecord]:
        """Approvals oldest first, as of `now`: a pending one past its deadline lists as expired.

        `limit` returns at most that many; `after` (an approval id) starts just after that
        approval in the same order, so a long list is read a page at a time.
        """
        now = time.time() if now is None else now
        where, params = self._approval_filters(status, session_id, turn_id, now, after)
        sql = f"SELECT {_APPROVAL_COLUMNS} FROM approvals"
        sql += f" WHERE {' AND '.join(where)}" if where else ""
        sql += " ORDER BY requested_at, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_approval(row).as_of(now) for row in self._query(sql, params)]

    def count_approvals(
        self,
        *,
        status: ApprovalStatus | None = "pending",
        session_id: str | None = None,
        turn_id: str | None = None,
        now: float | None = None,
        after: str | None = None,
    ) -> int:
        """How many approvals `list_approvals` would list with no limit."""
        now = time.time() if now is None else now
        where, params = self._approval_filters(status, session_id, turn_id, now, after)
        sql = "SELECT COUNT(*) AS n FROM approvals"
        sql += f" WHERE {' AND '.join(where)}" if where else ""
        return int(self._query(sql, params)[0]["n"])

    @staticmethod
    def _approval_filters(
        status: ApprovalStatus | None,
        session_id: str | None,
        turn_id: str | None,
        now: float,
        after: str | None,
    ) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if status == "pending":
            clauses.append("status = 'pending' AND (expires_at IS NULL OR expires_at > ?)")
            params.append(now)
        elif status == "expired":
            clauses.append("(status = 'expired' OR (status = 'pending' AND expires_at <= ?))")
            params.append(now)
        elif status is not None:
            clauses.append("status = ?")
            params.append(status)
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        if turn_id is not None:
            clauses.append("turn_id = ?")
            params.append(turn_id)
        if after is not None:  # row-value comparison: SQLite >= 3.15 and PostgreSQL alike
            clauses.append(
                "(requested_at, id) > (SELECT requested_at, id FROM approvals WHERE id = ?)"
            )
            params.append(after)
        return clauses, params

    def lapsed_approvals(self, now: float) -> list[ApprovalRecord]:
        """Approvals still recorded pending whose deadline has passed (what a sweeper records)."""
        rows = self._query(
            f"SELECT {_APPROVAL_COLUMNS} FROM approvals "
            "WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ? "
            "ORDER BY expires_at, id",
            [now],
        )
        return [_approval(row) for row in rows]

    def next_expiry(self) -> float | None:
        """The earliest deadline among pending approvals (None when none has one)."""
        rows = self._query(
            "SELECT MIN(expires_at) AS deadline FROM approvals "
            "WHERE status = 'pending' AND expires_at IS NOT NULL"
        )
        return rows[0]["deadline"] if rows else None

    def decide_approval(
        self,
        approval_id: str,
        *,
        decision: Decision,
        operator: str,
        host: str,
        reason: str = "",
        arguments: dict[str, Any] | None = None,
        decided_at: float,
        call_hash_of_edit: str | None = None,
        channel: str = "cli",
    ) -> ApprovalRecord:
        """Record a decision atomically (the runtime's core emits the `approval.decided` event).

        `operator`, `host` and `channel` (tui, cli, web, runtime) say who decided and from
        where; the change feed tells the turn's owner at once.

        Raises StoreError "not_found" for an unknown id and "conflict" when it is no longer
        pending. A pending one past its deadline is recorded as expired, whatever was asked,
        and the record says so. Approved with edited `arguments`, the record binds the NEW
        call hash (the runtime runs the edited call).
        """
        with self._transaction(f"cannot record the decision on approval {approval_id}") as conn:
            rows = conn.execute(
                f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE id = ?{conn.for_update}",
                [approval_id],
            ).fetchall()
            if not rows:
                raise StoreError("not_found", f"no approval {approval_id}")
            current = _approval(rows[0])
            if current.status != "pending":
                raise StoreError("conflict", f"approval {approval_id} is already {current.status}")
            update: dict[str, Any] = {
                "status": decision,
                "decided_at": decided_at,
                "operator": operator,
                "host": host,
                "channel": channel,
                "decision_reason": redact(reason),  # typed by a person: a pasted key too
            }
            if current.expires_at is not None and decided_at >= current.expires_at:
                update["status"] = "expired"
                update["decision_reason"] = (
                    f"expired at {when(current.expires_at)} before a decision"
                    + (
                        f" ({decision} by {operator} came too late)"
                        if decision != "expired"
                        else ""
                    )
                )
            elif decision == "approved" and arguments is not None:
                update["edited_arguments"] = arguments
                update["call_hash"] = call_hash_of_edit or call_hash(current.tool, arguments)
            decided = current.model_copy(update=update)
            conn.execute(
                "UPDATE approvals SET status = ?, decided_at = ?, operator = ?, host = ?, "
                "channel = ?, decision_reason = ?, edited_arguments = ?, call_hash = ? "
                "WHERE id = ? AND status = 'pending'",
                [
                    decided.status,
                    decided.decided_at,
                    decided.operator,
                    decided.host,
                    decided.channel,
                    decided.decision_reason,
                    None if decided.edited_arguments is None else dumps(decided.edited_arguments),
                    decided.call_hash,
                    approval_id,
                ],
            )
            note_change(
                conn,
                "approval.decided",
                approval_id,
                session_id=current.session_id,
                turn_id=current.turn_id,
                at=decided_at,
            )
        return decided

    # --- always-allow rules ---------------------------------------------------------------

    def add_allow_rule(
        self, session_id: str, *, tool: str, command: str | None = None, created_at: float
    ) -> int:
        """Always allow `tool` (only this exact `command`, when given) in a session; its id."""
        with self._transaction("cannot record the allow rule") as conn:
            row = conn.execute(
                "INSERT INTO allow_rules (session_id, tool, command, created_at) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                [session_id, tool, command, created_at],
            ).fetchone()
            return int(row[0])

    def list_allow_rules(self, session_id: str) -> list[AllowRule]:
        """The rules in force for a session (revoked ones are kept for the audit, not listed)."""
        rows = self._query(
            "SELECT id, session_id, tool, command, created_at, revoked_at FROM allow_rules "
            "WHERE session_id = ? AND revoked_at IS NULL ORDER BY id",
            [session_id],
        )
        return [AllowRule.model_validate(dict(row)) for row in rows]

    def revoke_allow_rule(self, rule_id: int, *, revoked_at: float | None = None) -> None:
        with self._transaction(f"cannot revoke allow rule {rule_id}") as conn:
            cursor = conn.execute(
                "UPDATE allow_rules SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                [time.time() if revoked_at is None else revoked_at, rule_id],
            )
            if cursor.rowcount == 0:
                raise StoreError("not_found", f"no allow rule {rule_id} in force")
