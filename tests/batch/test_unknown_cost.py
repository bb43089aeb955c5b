"""A ticket whose model has no price reads "unknown" in every figure of a batch run (report
lines, REPORT.md, progress, the final line, the exported recording), and a total with an
unknown part says it is a lower bound."""

from __future__ import annotations

import json
from pathlib import Path

from opscopilot.batch.report import summary_markdown
from opscopilot.batch.runner import BatchOptions
from tests.runtime.support import CHAT_PATH, cli_env, opscopilot, text_reply
from tests.support.wire_server import WireServer

UNPRICED = "openai:my-own-finetune"  # a name no catalog prices


def _line(ticket: str, status: str, cost: float | None) -> dict:
    return {"id": ticket, "status": status, "summary": f"{ticket} answered", "cost_usd": cost}


def test_a_summary_with_unpriced_tickets_says_unknown_and_gives_a_lower_bound():
    text = summary_markdown(
        [
            _line("T1", "completed", 0.0123),
            _line("T2", "completed", None),
            _line("T3", "completed", None),
            _line("T4", "skipped", 0.0),
        ],
        BatchOptions(model=UNPRICED),
    )
    assert "4 tickets · ≥ $0.0123, 2 unknown for the answers" in text
    rows = {row.split("|")[1].strip(): row for row in text.splitlines() if row.startswith("| T")}
    assert "| unknown |" in rows["T2"] and "$0.000000" not in rows["T2"]
    assert "| $0.012300 |" in rows["T1"] and "| $0.000000 |" in rows["T4"]
    all_unknown = summary_markdown([_line("T2", "completed", None)], BatchOptions(model=UNPRICED))
    assert "1 tickets · unknown for the answers" in all_unknown and "$0.0000" not in all_unknown


def test_a_batch_on_a_model_with_no_price_reports_unknown_everywhere(isolated_home: Path):
    tickets = isolated_home / "tickets.jsonl"
    tickets.write_text(
        "".join(
            json.dumps({"id": f"INC-{n}", "title": f"gateway 5xx {n}", "body": "look"}) + "\n"
            for n in (1, 2)
        )
    )
    report = isolated_home / "report.jsonl"
    with WireServer() as server:
        server.handle(CHAT_PATH, lambda request: text_reply("The gateway looks healthy now."))
        env = cli_env(isolated_home, server)
        result = opscopilot(
            *("batch", str(tickets), "-o", str(report), "--model", UNPRICED),
            *("--concurrency", "1"),
            env=env,
        )
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in report.read_text().splitlines()]
        assert [line["cost_usd"] for line in lines] == [None, None]  # null, not 0
        progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
        assert len(progress) == 2
        assert all(" completed unknown (run unknown)" in line for line in progress), progress
        assert "$0" not in result.stdout and " · unknown · report " in result.stdout
        summary = report.with_suffix(".md").read_text()
        assert "2 tickets · unknown for the answers" in summary and "$0.0" not in summary

        exported = isolated_home / "export.jsonl"
        shown = opscopilot(
            "sessions", "export", lines[0]["session_id"], "-o", str(exported), env=env
        )
        assert shown.returncode == 0, shown.stderr
    events = [json.loads(line)["event"] for line in exported.read_text().splitlines()[1:]]
    costs = {e["type"]: e["cost_usd"] for e in events if "cost_usd" in e}
    assert costs == {"model.usage": None, "model.finished": None, "turn.finished": None}
    replayed = opscopilot("replay", str(exported), "--headless", "--speed", "0", env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert "cost unknown" in replayed.stdout and "$0.0" not in replayed.stdout
