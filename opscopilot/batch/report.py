"""A batch run's report: one JSON line per ticket in ticket order, and a readable summary.

Both files are rewritten whole (temp file + rename) after every ticket, so they are always
complete and consistent, even when the run is killed.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opscopilot.batch.runner import BatchOptions
    from opscopilot.batch.tickets import Ticket
    from opscopilot.runtime import TurnOutcome


def ticket_line(
    ticket: Ticket, outcome: TurnOutcome, cost_usd: float, *, final_answer: str = ""
) -> dict[str, Any]:
    """The report's line for a ticket; `summary` is the model's last answer of the turn."""
    summary = (final_answer or outcome.text).strip()
    if not summary and outcome.error is not None:
        summary = f"{outcome.error.kind}: {outcome.error.message}"
    return {
        "id": ticket.id,
        "status": outcome.status,
        "summary": summary or outcome.reason,
        "cost_usd": round(cost_usd, 8),
        "session_id": outcome.session_id,
        "turn_id": outcome.turn_id,
        "severity": ticket.severity,
        "service": ticket.service,
        "tools": [
            {"name": c.name, "arguments": c.arguments, "status": c.status}
            for c in outcome.tool_calls
        ],
        "pending_approvals": list(outcome.pending_approvals),
        "error": None if outcome.error is None else outcome.error.model_dump(),
    }


def skipped_line(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "status": "skipped",
        "summary": "not started: the run's budget cap was reached",
        "cost_usd": 0.0,
        "session_id": None,
        "turn_id": None,
        "severity": ticket.severity,
        "service": ticket.service,
        "tools": [],
        "pending_approvals": [],
        "error": None,
    }


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def summary_markdown(
    lines: list[dict[str, Any]], options: BatchOptions, spent_usd: float | None = None
) -> str:
    counts = Counter(line["status"] for line in lines)
    total_cost = sum(line.get("cost_usd") or 0.0 for line in lines)
    out = [
        "# Batch report",
        "",
        f"Model `{options.model}` · approvals `{options.approve}` · "
        f"{len(lines)} tickets · ${total_cost:.4f} for the answers"
        + (f" (cap ${options.max_cost:.4f})" if options.max_cost is not None else ""),
        "",
    ]
    if spent_usd is not None and spent_usd > total_cost + 1e-9:
        out += [
            f"Spent in all: ${spent_usd:.4f} — ${spent_usd - total_cost:.4f} went to model calls "
            "cut short when the run was interrupted and made again on restart.",
            "",
        ]
    out += [
        " · ".join(f"{status}: {n}" for status, n in sorted(counts.items())),
        "",
        "| ticket | severity | service | status | cost | first line |",
        "|---|---|---|---|---|---|",
    ]
    for line in lines:
        first = (line.get("summary") or "").strip().splitlines()
        headline = (first[0] if first else "").replace("|", "\\|")[:100]
        out.append(
            f"| {line['id']} | {line.get('severity') or ''} | {line.get('service') or ''} | "
            f"{line['status']} | ${line.get('cost_usd') or 0:.6f} | {headline} |"
        )
    return "\n".join(out) + "\n"


def write_report(
    path: Path, lines: list[dict[str, Any]], options: BatchOptions, spent_usd: float | None = None
) -> None:
    _atomic_write(path, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    _atomic_write(path.with_suffix(".md"), summary_markdown(lines, options, spent_usd))
