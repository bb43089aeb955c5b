"""A batch run's report: one JSON line per ticket, and a readable summary.

While a run works, each finished ticket appends its line to the JSONL report (O(1) per
ticket), and the Markdown summary is rewritten every `SUMMARY_EVERY_S` seconds, or less often
when a rewrite (which reads every line) would take more than `SUMMARY_SHARE` of the time
between two, so a long run never spends more than that on its summary. At the end
(and when a run starts, to drop what a killed run left half-written) both are rewritten
whole from the run's state, in ticket order, one line per ticket (temp file + rename). `write_run_report` does the same for `opscopilot batch report NAME`.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from opscopilot.money import money, money_total

if TYPE_CHECKING:
    from opscopilot.batch.runner import BatchOptions
    from opscopilot.batch.tickets import Ticket
    from opscopilot.runtime import TurnOutcome


SUMMARY_EVERY_S = 10.0
SUMMARY_SHARE = 0.02  # of a run's time, at most, spent rewriting the summary while it works
_COPY_CHARS = 16 * 1024  # the rows are copied under the head in pieces of this size


_MARKUP = str.maketrans("", "", "*`#>")
_COMMAND_ASIDE = re.compile(r"\s*\(`[^`]*`\)")  # "(`tail_log /var/log/…`)": how, not what


def headline(summary: str, limit: int = 100) -> str:
    """The first line of an answer that says something about this ticket: a lead-in such as
    "Here is what the checks show:" is passed over for what follows it, markdown stripped."""
    lines = [line.strip() for line in summary.strip().splitlines() if line.strip()]
    for index, line in enumerate(lines):
        text = " ".join(_COMMAND_ASIDE.sub("", line.lstrip("-*• ")).translate(_MARKUP).split())
        lead_in = text.endswith(":") and index + 1 < len(lines)
        if text and not lead_in:
            return text if len(text) <= limit else text[: limit - 1] + "…"
    return lines[0][:limit] if lines else ""


def ticket_line(
    ticket: Ticket, outcome: TurnOutcome, cost_usd: float | None, *, final_answer: str = ""
) -> dict[str, Any]:
    """The report's line for a ticket; `summary` is the model's last answer of the turn.
    `cost_usd` is null when the turn spent tokens on a model with no known price."""
    summary = (final_answer or outcome.text).strip()
    spent_tokens = outcome.usage.input_tokens + outcome.usage.output_tokens > 0
    if outcome.cost_usd is None and spent_tokens:
        cost_usd = None
    if not summary and outcome.error is not None:
        summary = f"{outcome.error.kind}: {outcome.error.message}"
    return {
        "id": ticket.id,
        "status": outcome.status,
        "summary": summary or outcome.reason,
        "cost_usd": None if cost_usd is None else round(cost_usd, 8),
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


def _atomic_text(path: Path, write: Callable[[IO[str]], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        write(out)
    os.replace(temporary, path)


def summary_markdown(
    lines: Iterable[dict[str, Any]],
    options: BatchOptions,
    spent_usd: float | None = None,
    *,
    continued: Iterable[str] = (),
) -> str:
    """The summary as one string (for a few lines: a run's report goes through
    `write_summary`, which never holds the whole text)."""
    text = io.StringIO()
    write_summary(text, lines, options, spent_usd, continued=continued)
    return text.getvalue()


def write_summary(
    out: IO[str],
    lines: Iterable[dict[str, Any]],
    options: BatchOptions,
    spent_usd: float | None = None,
    *,
    continued: Iterable[str] = (),
) -> None:
    """The Markdown summary, written as it is made: the table's rows wait in an unnamed
    temporary file while the totals that head them are counted, so a rewrite needs the same
    memory at 200 tickets as at 20,000 (the whole text, built every few seconds, grew the C
    heap with the run: benchmarks/README.md, issue 11)."""
    counts: Counter[str] = Counter()
    total_cost = 0.0
    unpriced = 0  # tickets whose model had no known price
    waiting: list[str] = []
    again = set(continued)
    continued = []
    with tempfile.TemporaryFile("w+", encoding="utf-8") as rows:
        for line in lines:
            if line["id"] in again:
                continued.append(line["id"])
            counts[line["status"]] += 1
            total_cost += line.get("cost_usd") or 0.0
            unpriced += line.get("cost_usd", 0.0) is None
            said = headline(line.get("summary") or "").replace("|", "\\|")
            rows.write(
                f"| {line['id']} | {line.get('severity') or ''} | {line.get('service') or ''} | "
                f"{line['status']} | {money(line.get('cost_usd', 0.0), digits=6)} | {said} |\n"
            )
            if line["status"] == "awaiting_approval":
                ids = ", ".join(line.get("pending_approvals") or [])
                waiting.append(f"- {line['id']}: approval {ids}" if ids else f"- {line['id']}")
        head = [
            "# Batch report",
            "",
            f"Model `{options.model}` · approvals `{options.approve}` · "
            f"{sum(counts.values())} tickets · {money_total(total_cost, unpriced)} for the answers"
            + (f" (cap ${options.max_cost:.4f})" if options.max_cost is not None else ""),
            "",
        ]
        if spent_usd is not None and spent_usd > total_cost + 1e-9:
            head += [
                f"Spent in all: ${spent_usd:.4f} — ${spent_usd - total_cost:.4f} went to model "
                "calls cut short when the run was interrupted and made again on restart.",
                "",
            ]
        head += [" · ".join(f"{status}: {n}" for status, n in sorted(counts.items())), ""]
        if continued:
            head += [f"Continued after a decision in this run: {', '.join(continued)}.", ""]
        if waiting:
            head += [
                "Waiting for approval (decide with `opscopilot approvals`, then run the same "
                "command again):",
                *waiting,
                "",
            ]
        head += [
            "| ticket | severity | service | status | cost | first line |",
            "|---|---|---|---|---|---|",
        ]
        out.writelines(f"{piece}\n" for piece in head)
        rows.seek(0)
        shutil.copyfileobj(rows, out, _COPY_CHARS)


def _atomic_lines(path: Path, lines: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


@dataclass
class Tally:
    """Counts and cost of the report's lines, kept as lines are replaced (O(1) per ticket)."""

    counts: Counter[str] = field(default_factory=Counter)
    cost_usd: float = 0.0
    unpriced: int = 0  # lines whose cost is unknown (null): cost_usd is a lower bound

    def add(self, line: dict[str, Any]) -> None:
        self.counts[line["status"]] += 1
        self.cost_usd += line.get("cost_usd") or 0.0
        self.unpriced += line.get("cost_usd", 0.0) is None

    def remove(self, line: dict[str, Any]) -> None:
        self.counts[line["status"]] -= 1
        if not self.counts[line["status"]]:
            del self.counts[line["status"]]
        self.cost_usd -= line.get("cost_usd") or 0.0
        self.unpriced -= line.get("cost_usd", 0.0) is None


class ReportWriter:
    """The report files of one run: appended per ticket, rewritten whole now and then.

    `lines` gives every line of the run in ticket order (streamed from its state); it is
    read only for a whole rewrite, never per ticket. Workers finish tickets in several
    threads at once, so every write holds one lock (the files share one temp name each).
    """

    def __init__(
        self,
        path: Path,
        options: BatchOptions,
        lines: Callable[[], Iterable[dict[str, Any]]],
        *,
        clock: Callable[[], float] = time.monotonic,
        summary_every_s: float = SUMMARY_EVERY_S,
    ) -> None:
        self.path = path
        self.options = options
        self.lines = lines
        self.clock = clock
        self.summary_every_s = summary_every_s
        self.continued: list[str] = []  # tickets a decision let continue in this run
        self._out: IO[str] | None = None
        self._summary_at = clock()
        self._summary_wait_s = summary_every_s
        self._lock = threading.Lock()

    def rewrite(self, spent_usd: float | None = None) -> None:
        """Both files whole, in ticket order, from the run's state."""
        with self._lock:
            self._close()
            _atomic_lines(self.path, self.lines())
            self._write_summary(spent_usd)

    def append(self, line: dict[str, Any], spent_usd: float | None = None) -> None:
        """One finished ticket: a line at the end of the JSONL (a ticket continued later
        appears again; the later line is the one that counts until the final rewrite)."""
        with self._lock:
            if self._out is None:
                self._out = self.path.open("a", encoding="utf-8")
            self._out.write(json.dumps(line, ensure_ascii=False) + "\n")
            self._out.flush()
            if self.clock() - self._summary_at >= self._summary_wait_s:
                self._write_summary(spent_usd)

    def _write_summary(self, spent_usd: float | None) -> None:
        started = self.clock()
        _atomic_text(
            self.path.with_suffix(".md"),
            lambda out: write_summary(
                out, self.lines(), self.options, spent_usd, continued=self.continued
            ),
        )
        self._summary_at = self.clock()
        took = self._summary_at - started
        self._summary_wait_s = max(self.summary_every_s, took / SUMMARY_SHARE)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


@dataclass
class WrittenReport:
    path: Path
    counts: Counter[str] = field(default_factory=Counter)
    cost_usd: float = 0.0
    unpriced: int = 0  # lines whose cost is unknown (their model has no price)
    open: int = 0  # tickets not settled yet (pending, or being worked)

    @property
    def tickets(self) -> int:
        return sum(self.counts.values())


_RUN_ID = re.compile(r"b-[0-9a-f]{12}")


def write_run_report(name: str, path: Path | None = None) -> WrittenReport:
    """Rewrite a run's report from the store (`opscopilot batch report NAME`): every line
    settled so far, whichever workers wrote them; `name` is a `--run` name or a run id."""
    from opscopilot.batch.runner import BatchOptions
    from opscopilot.store.batch import BatchState, named_run_key
    from opscopilot.store.errors import StoreError

    run_id = name if _RUN_ID.fullmatch(name) else named_run_key(name)
    state = BatchState(None, run_id)
    try:
        info = state.run_info()
        if info is None:
            raise StoreError("not_found", f"no batch run {name!r} in this store")
        stored = info["options"]
        options = BatchOptions(
            model=stored.get("model") or "",
            approve=stored.get("approve") or "read-only",
            max_cost=stored.get("max_cost"),
            max_cost_per_ticket=stored.get("max_cost_per_ticket"),
        )
        written = WrittenReport(path or Path(info["report_path"]))
        ReportWriter(written.path, options, state.outcomes).rewrite(state.totals().settled_usd)
        for line in state.outcomes():
            written.counts[line["status"]] += 1
            written.cost_usd += line.get("cost_usd") or 0.0
            written.unpriced += line.get("cost_usd", 0.0) is None
        written.open = state.open_count()
        return written
    finally:
        state.close()
