"""The audit trail: who decided what, from where; which tools ran, at what risk; spend per session.

`opscopilot audit export` writes it as JSON lines or CSV. Every text is redacted again on the
way out (the store already holds redacted text; an operator-configured pattern added since
is applied too).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from opscopilot.redact import redact

FIELDS = (
    "type",
    "at",
    "session_id",
    "turn_id",
    "id",
    "tool",
    "arguments",
    "risk",
    "status",
    "operator",
    "host",
    "channel",
    "reason",
    "cost_usd",
    "calls",
)

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class AuditError(ValueError):
    """A bad --since or --format; one line."""


def parse_since(text: str, *, now: float | None = None) -> float:
    """`--since`: an ISO date or time (UTC unless it says otherwise), epoch seconds, or an age
    like `24h` / `7d` / `30m`."""
    now = time.time() if now is None else now
    value = text.strip()
    if match := _RELATIVE.match(value):
        return now - float(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AuditError(
            f"--since {text!r}: give an ISO date/time (2026-12-01, 2026-12-01T09:00), "
            "epoch seconds, or an age (30m, 24h, 7d)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def records(store: Any, ledger: Any, since: float) -> Iterator[dict[str, Any]]:
    """Every audit record since `since`: decisions, tool runs, then spend per session."""
    for approval in store.list_approvals(status=None):
        if approval.status == "pending" or (approval.decided_at or 0) < since:
            continue
        yield _clean(
            {
                "type": "decision",
                "at": iso(approval.decided_at),
                "session_id": approval.session_id,
                "turn_id": approval.turn_id,
                "id": approval.id,
                "tool": approval.tool,
                "arguments": approval.effective_arguments,
                "risk": approval.risk,
                "status": approval.status,
                "operator": approval.operator,
                "host": approval.host,
                "channel": getattr(approval, "channel", None),
                "reason": approval.decision_reason,
            }
        )
    for run in store.tool_runs(since=since):
        yield _clean({**run, "at": iso(run["at"])})
    for group in ledger.spend_by_session(since=since):
        yield {
            "type": "spend",
            "at": iso(group["last_at"]),
            "session_id": group["session_id"],
            "cost_usd": group["cost_usd"],
            "calls": group["calls"],
        }


def write(rows: Iterable[dict[str, Any]], out: io.TextIOBase, fmt: str) -> int:
    """Write `rows` as `jsonl` or `csv`; how many were written."""
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
        return count
    if fmt != "csv":
        raise AuditError(f"--format {fmt!r}: use jsonl or csv")
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        flat = {
            key: json.dumps(value, ensure_ascii=False, sort_keys=True)
            if isinstance(value, dict | list)
            else value
            for key, value in row.items()
        }
        writer.writerow(flat)
        count += 1
    return count
