"""The report says what happened to each ticket: never started is `skipped`, the summary
column says something of its own per ticket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from opscopilot.batch.report import headline

REPO = Path(__file__).resolve().parents[2]

BUILTIN_ANSWER = """Here is what the checks show:

- **Log** (`tail_log /var/log/payments.log`): 3 of 12 lines look like errors; latest: ERROR upstream timed out.
- **Disk** (`df -h`): nothing at or above 80%.
"""


def test_the_headline_passes_over_the_lead_in_and_the_command_aside():
    assert headline(BUILTIN_ANSWER) == (
        "Log: 3 of 12 lines look like errors; latest: ERROR upstream timed out."
    )
    assert headline("Restarted nginx; it is serving again.") == (
        "Restarted nginx; it is serving again."
    )
    assert headline("Only a lead-in:") == "Only a lead-in:"
    assert headline("") == ""


def test_sample_tickets_past_the_run_cap_are_skipped_and_each_row_says_its_own_thing(
    isolated_home: Path,
):
    report = isolated_home / "report.jsonl"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "opscopilot", "batch", "--sample", "-o", str(report)),
            *("--max-cost", "0.01", "--concurrency", "2", "--quiet"),
        ],
        cwd=REPO,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 4, result.stderr  # the budget stopped work
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(lines) == 120
    never_worked = [line for line in lines if line["cost_usd"] == 0.0]
    assert never_worked and all(line["status"] == "skipped" for line in never_worked)
    completed = [line for line in lines if line["status"] == "completed"]
    assert completed
    rows = [
        row for row in report.with_suffix(".md").read_text().splitlines() if "| completed |" in row
    ]
    assert len(rows) == len(completed)
    assert not any(row.endswith("| Here is what the checks show: |") for row in rows)
    firsts = {row.rsplit("|", 2)[1].strip() for row in rows}
    assert len(firsts) > 1  # not one line repeated for every ticket


def test_the_last_ticket_is_reported_however_late_its_line_is_written(tmp_path: Path, monkeypatch):
    """A ticket counts as in flight until its line is written and its progress said: the
    claim loop finding nothing left while that happens does not end the run (it used to, and
    the ending cancelled the last ticket's progress line: seen as a flake under load)."""
    import threading

    import anyio

    from opscopilot.batch.report import ReportWriter
    from opscopilot.batch.runner import BatchOptions, BatchRunner
    from opscopilot.store.batch import BatchState

    sample = REPO / "opscopilot" / "batch" / "sample" / "tickets.jsonl"
    tickets = tmp_path / "two.jsonl"
    tickets.write_text("".join(sample.read_text().splitlines(keepends=True)[:2]))
    (tmp_path / "logs").symlink_to(sample.parent / "logs")
    last = json.loads(tickets.read_text().splitlines()[-1])["id"]

    nothing_left = threading.Event()  # the claim loop found no ticket, and none is open
    claim, append = BatchState.claim, ReportWriter.append

    def claiming(self, *args, **kwargs):
        got = claim(self, *args, **kwargs)
        if got is None and not self.open_count():
            nothing_left.set()
        return got

    def appending(self, line, spent_usd=None):
        # The last ticket is recorded in the store; its line is written only once the
        # claim loop has seen that nothing is left to claim (the order load once produced).
        if line["id"] == last:
            assert nothing_left.wait(60), "the claim loop never looked again"
        append(self, line, spent_usd)

    monkeypatch.setattr(BatchState, "claim", claiming)
    monkeypatch.setattr(ReportWriter, "append", appending)
    progress: list[str] = []
    runner = BatchRunner(
        tickets,
        tmp_path / "two.report.jsonl",
        BatchOptions(model="builtin:ops", concurrency=1),
        on_progress=lambda p: progress.append(p.ticket_id),
    )
    result = anyio.run(runner.run)
    assert nothing_left.is_set() and result.exit_code == 0
    assert progress == [json.loads(t)["id"] for t in tickets.read_text().splitlines()]
