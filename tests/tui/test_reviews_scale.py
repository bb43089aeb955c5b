"""The reviews panel scales with what it shows, not with what is pending: it holds the oldest
REVIEW_LIMIT approvals and says how many more; a poll changes only what changed; ages tick
without rebuilding the list. And `approvals list` pages oldest first with a "more" line."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest
from textual.widgets import Static

from opscopilot.store import ApprovalRecord
from opscopilot.tui.app import create_app
from opscopilot.tui.widgets.reviews import REVIEW_LIMIT, ReviewList, ReviewsPanel
from tests.tui.conftest import FIXED_NOW, ScriptedEngine, answer_script, wait_for

pytestmark = pytest.mark.anyio

PENDING = REVIEW_LIMIT + 150


def add_pending(store, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        store.create_approval(
            ApprovalRecord(
                id=f"ap-{n:04d}",
                session_id="ses-ops",
                turn_id=f"turn-{n:04d}",
                tool_call_id=f"tc-{n:04d}",
                tool="run_command",
                arguments={"command": f"systemctl restart worker@{n}"},
                risk="write",
                reason="restarts a service",
                call_hash=f"h-{n:04d}",
                requested_at=FIXED_NOW - 10_000 + n,
            )
        )


@pytest.fixture
def crowded():
    engine = ScriptedEngine(answer_script(["ok"]))
    add_pending(engine.store, PENDING)
    yield engine
    engine.close()


async def test_the_panel_holds_the_oldest_page_and_changes_only_what_changed(crowded):
    now = [FIXED_NOW]
    counter = itertools.count(1)
    app = create_app(
        engine=crowded,
        model="builtin:ops",
        poll_interval=0.2,
        clock=lambda: now[0],
        new_id=lambda prefix: f"{prefix}-{next(counter)}",
        deterministic=True,
    )
    async with app.run_test(size=(140, 40)) as pilot:
        reviews = app.main_screen.query_one(ReviewList)
        await wait_for(pilot, lambda: reviews.option_count == REVIEW_LIMIT)
        panel = app.main_screen.query_one(ReviewsPanel)
        assert panel.border_title == f"pending reviews ({PENDING})"
        more = str(panel.query_one(".review-more", Static).render())
        assert (
            f"… {PENDING - REVIEW_LIMIT} more" in more
            and f"--after ap-{REVIEW_LIMIT - 1:04d}" in more
        )
        assert f"{PENDING} pending" in str(app.main_screen.query_one("#title", Static).render())
        assert reviews.get_option_at_index(0).id == "ap-0000"  # oldest first
        options = {o.id: o for o in reviews.options}

        # Decided elsewhere: the oldest goes, the next one joins at the end; the rest stay the
        # very same options (no rebuild).
        crowded.store.decide_approval(
            "ap-0000", decision="denied", operator="bob", host="h", reason="", decided_at=now[0]
        )
        await wait_for(pilot, lambda: reviews.get_option_at_index(0).id == "ap-0001")
        assert reviews.option_count == REVIEW_LIMIT
        assert reviews.get_option_at_index(REVIEW_LIMIT - 1).id == f"ap-{REVIEW_LIMIT:04d}"
        assert all(reviews.get_option(i) is options[i] for i in options if i != "ap-0000")
        assert panel.border_title == f"pending reviews ({PENDING - 1})"

        # Time passes: the ages on screen tick, the list stays the same options.
        first = reviews.get_option_at_index(0)
        before = first.prompt.plain
        now[0] += 3600
        app._refresh_review_ages()
        await pilot.pause()
        assert reviews.get_option_at_index(0) is first and first.prompt.plain != before
        assert "3h46m ago" in first.prompt.plain  # 10,000 - 1 s, then an hour later
        hidden = reviews.get_option_at_index(REVIEW_LIMIT - 1)
        assert "2h" in hidden.prompt.plain  # off screen: not re-rendered until it shows


def approvals_cli(home, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSCOPILOT_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", "approvals", "list", *args],
        capture_output=True,
        text=True,
        env=env,
    )


def test_approvals_list_shows_the_oldest_50_says_how_many_more_and_pages_on(tmp_path):
    from opscopilot.store import Store

    home = tmp_path / "home"
    with Store.open(home / "opscopilot.db") as store:
        add_pending(store, 120)
    table = approvals_cli(home)
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("ap-")]
    assert [r.split()[0] for r in rows] == [f"ap-{n:04d}" for n in range(50)]
    assert table.stdout.splitlines()[-1] == (
        "… 70 more (oldest first): opscopilot approvals list --after ap-0049"
    )
    page = approvals_cli(home, "--after", "ap-0049", "--limit", "60", "--json")
    assert [a["id"] for a in json.loads(page.stdout)] == [f"ap-{n:04d}" for n in range(50, 110)]
    last = approvals_cli(home, "--after", "ap-0109", "--limit", "60")
    assert "more" not in last.stdout and last.stdout.count("\nap-") == 10
    assert len(json.loads(approvals_cli(home, "--json").stdout)) == 120  # scripts get all
    unknown = approvals_cli(home, "--after", "nope")
    assert unknown.returncode == 2 and "no approval nope" in unknown.stderr
