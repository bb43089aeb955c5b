"""`opscopilot replay FILE` in the TUI: a real v1 recording on disk, played by the Player into
the same widgets as a live session; pause, step, speed, seek; nothing runs, nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Markdown, Static

from opscopilot import config
from opscopilot.replay.recording import RecordingHeader, read_recording, write_recording
from opscopilot.tui.commands import OpsCommands
from opscopilot.tui.replay import ReplayApp
from opscopilot.tui.screens.help import HelpScreen
from opscopilot.tui.screens.seek import SeekScreen
from opscopilot.tui.widgets.markdown_feed import MarkdownPiece
from opscopilot.tui.widgets.tool_card import ToolCard
from tests.tui.conftest import FIXED_NOW, answer_script, wait_for

pytestmark = pytest.mark.anyio

PIECES = ["## Disk\n\n", "Root is **42%** full.\n\n", "```sh\ndf -h /\n```\n"]
ANSWER = "".join(PIECES)


def recorded(tmp_path: Path, *, spacing_s: float = 0.0, turns: int = 1) -> Path:
    """A recording of `turns` turns of one session, written in format v1 to a real file."""
    events = []
    for number in range(1, turns + 1):
        events += answer_script(PIECES)(
            "s-rec", f"t-{number}", f"disk usage {number}?", "builtin:ops"
        )
    events = [e.model_copy(update={"ts": FIXED_NOW + i * spacing_s}) for i, e in enumerate(events)]
    path = tmp_path / "session.jsonl"
    write_recording(path, RecordingHeader(models=["builtin:ops"], session_id="s-rec"), events)
    return path


def replay_app(path: Path, speed: float | None) -> ReplayApp:
    return ReplayApp(read_recording(path), source=str(path), speed=speed, deterministic=True)


def bar(app: ReplayApp) -> str:
    return str(app.query_one("#replay-bar", Static).render())


async def test_max_speed_fills_the_same_panes_with_the_text_and_tool_cards_and_stores_nothing(
    tmp_path,
):
    app = replay_app(recorded(tmp_path), speed=None)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        pane = app.active_pane
        assert len(app.panes) == 1 and pane.session_id == "s-rec"
        assert [m.source for m in pane.query(".answer-text").results(Markdown)] == [ANSWER]
        card = pane.query_one(ToolCard)
        assert (card.tool_name, card.status, card.output) == (
            "system_info",
            "ok",
            "load 0.42 0.30 0.21\n",
        )
        assert pane.state == "completed"
        assert bar(app).startswith(f"replay session.jsonl  ·  event {app.total}/{app.total}")
        assert "finished" in bar(app) and "speed max" in bar(app)
        assert not app.query_one("#prompt", Input).display  # nothing to ask in a replay
        assert not app.check_action("new_pane", ()) and not app.check_action("cancel_turn", ())
    assert not config.db_path().exists()  # a replay never opens the store


async def test_pause_then_step_lets_exactly_one_event_through_each_press(tmp_path):
    app = replay_app(recorded(tmp_path, spacing_s=30.0), speed=1.0)  # 30 s apart: waits at 1×
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.rendered == 1)
        await pilot.press("space")
        assert app.player.paused and "paused" in bar(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.rendered == 2)
        await pilot.press("right")
        await wait_for(pilot, lambda: app.rendered == 3)
        await pilot.pause(0.2)
        assert app.rendered == 3  # a step is one event, not a resume
        assert "event 3/" in bar(app)
        await pilot.press("plus", "plus")
        assert app.player.speed == 5.0 and "speed 5×" in bar(app)
        await pilot.press("minus")
        assert app.player.speed == 2.0
        await pilot.press("space")  # resume: the next event at once, the one after 15 s later
        await wait_for(pilot, lambda: app.rendered == 4)
        await pilot.pause(0.2)
        assert not app.player.paused and app.rendered == 4


async def test_seek_back_redraws_from_the_start_and_seek_forward_draws_up_to_the_event(tmp_path):
    app = replay_app(recorded(tmp_path, turns=2), speed=None)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        assert len(app.active_pane.query(".answer-text")) == 2
        await pilot.press("space")  # pause, so the replay stays where we put it
        await pilot.press("g")
        assert isinstance(app.screen, SeekScreen)
        await pilot.press(*"3", "enter")  # turn started, model started, first piece of text
        await wait_for(pilot, lambda: app.rendered == 3)
        pane = app.active_pane
        assert len(app.panes) == 1 and pane.session_id == "s-rec"
        # The answer is still streaming: its text so far is one live piece, not a Markdown.
        await wait_for(pilot, lambda: [m.source for m in pane.query(".answer-text")] == [PIECES[0]])
        assert [type(m) for m in pane.query(".answer-text")] == [MarkdownPiece]
        assert not pane.query(ToolCard)
        assert app.main_screen.query_one("#event-log").lines_written == 2  # text is folded

        await pilot.press("g", *str(app.total), "enter")  # forward: draw the rest, no redraw
        await wait_for(pilot, lambda: app.rendered == app.total)
        assert [m.source for m in pane.query(".answer-text").results(Markdown)] == [ANSWER, ANSWER]
        assert len(pane.query(ToolCard)) == 2

        await pilot.press("g", *"999", "enter")  # out of range: one line, the dialog stays
        assert isinstance(app.screen, SeekScreen)
        assert "0 to" in str(app.screen.query_one(".seek-error", Static).render())
        await pilot.press("escape")
        assert app.rendered == app.total


async def test_replay_keys_are_in_help_and_palette_and_q_quits(tmp_path):
    app = replay_app(recorded(tmp_path), speed=None)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        from opscopilot.tui.screens.help import keys_table

        ids = keys_table(app.screen.keymap, app.screen.actions, live=False).columns[2]._cells
        assert {"replay.pause", "replay.step", "replay.seek", "replay.quit"} <= set(ids)
        assert "review.approve" not in ids and "pane.new" not in ids
        await pilot.press("q")  # closes the help screen, not the replay
        assert not isinstance(app.screen, HelpScreen) and app.is_running
        titles = [title for title, _, _ in OpsCommands(app.screen)._commands()]
        assert {"Pause / resume", "Step one event (paused)", "Go to event…", "Faster"} <= set(
            titles
        )
        assert "Split" not in titles and "Sessions" not in titles
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_go_to_event_10_lands_on_event_10_even_while_playing_at_max_speed(tmp_path):
    app = replay_app(recorded(tmp_path, turns=3), speed=None)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        assert app.total > 12
        await pilot.press("g", *"10", "enter")  # not paused first: the replay stops at 10
        await wait_for(pilot, lambda: app.rendered == 10)
        await pilot.pause(0.3)
        assert app.rendered == 10 and app.player.paused
        assert "event 10/" in bar(app) and "paused" in bar(app)
        await pilot.press("n")  # and steps on from there
        await wait_for(pilot, lambda: app.rendered == 11)
