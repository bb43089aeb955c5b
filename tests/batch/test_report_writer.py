"""The report writer is shared by the workers' threads: appends and summary rewrites that
happen at once leave whole files (it crashed a 2,000-ticket run when two summaries raced on
the one temp file)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from opscopilot.batch.report import ReportWriter
from opscopilot.batch.runner import BatchOptions


def test_appends_from_many_threads_at_once_leave_whole_files(tmp_path: Path):
    written: list[dict] = []
    inside = 0
    overlapped = False
    guard = threading.Lock()

    def lines():
        nonlocal inside, overlapped
        with guard:
            inside += 1
            overlapped = overlapped or inside > 1
            snapshot = list(written)
        try:
            for line in snapshot:
                time.sleep(0)  # lets another thread in, as a SQLite read does
                yield line
        finally:
            with guard:
                inside -= 1

    report = tmp_path / "report.jsonl"
    writer = ReportWriter(report, BatchOptions(model="builtin:ops"), lines, summary_every_s=0)
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        start.wait()
        for k in range(20):
            line = {"id": f"T-{n}-{k}", "status": "completed", "summary": "ok", "cost_usd": 0.001}
            with guard:
                written.append(line)
            writer.append(line, 0.0)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()

    assert not overlapped  # one summary at a time
    appended = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(line["id"] for line in appended) == sorted(line["id"] for line in written)
    assert not list(tmp_path.glob(".*.tmp"))
    summary = report.with_suffix(".md").read_text()
    assert summary.startswith("# Batch report") and summary.count("| completed |") >= 1


def test_a_summary_that_reads_slowly_is_rewritten_less_often(tmp_path: Path):
    """Each summary reads every line: when that takes long (a big run), the next waits, so
    the summary never costs more than a small share of the run."""
    now = [0.0]
    reads: list[float] = []

    def lines():
        reads.append(now[0])
        now[0] += 1.0  # this rewrite takes a second
        return iter([{"id": "T-1", "status": "completed", "summary": "ok", "cost_usd": 0.0}])

    writer = ReportWriter(
        tmp_path / "report.jsonl",
        BatchOptions(model="builtin:ops"),
        lines,
        clock=lambda: now[0],
        summary_every_s=10.0,
    )
    line = {"id": "T-1", "status": "completed", "summary": "ok", "cost_usd": 0.0}
    for t in range(0, 120, 5):
        now[0] = max(now[0], float(t))
        writer.append(line)
    writer.close()
    # The first summary is due after 10 s; having taken 1 s, the next waits 1 / 0.02 = 50 s.
    assert reads == [10.0, 65.0]
