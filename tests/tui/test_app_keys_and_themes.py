"""Themes switched live and remembered, keys remapped from config, help and palette complete."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette

from opscopilot import config
from opscopilot.tui import theming
from opscopilot.tui.bindings import APP_ACTIONS
from opscopilot.tui.screens.help import HelpScreen
from opscopilot.tui.widgets.event_log import EventLog
from tests.tui.conftest import keep_notifications, make_app, wait_for

pytestmark = pytest.mark.anyio


async def test_f7_switches_theme_live_and_the_choice_is_remembered(engine):
    app = make_app(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        assert app.theme == "opscopilot-dark"
        await pilot.press("f7")
        await pilot.pause(0.1)
        assert app.theme == "opscopilot-high-contrast"
        await wait_for(pilot, lambda: theming.remembered_theme() == "opscopilot-high-contrast")
    again = make_app(engine)
    async with again.run_test(size=(120, 30)):
        assert again.theme == "opscopilot-high-contrast"


async def test_a_bad_theme_file_is_one_notification_not_a_crash(engine, isolated_home):
    folder = config.user_themes_dir()
    folder.mkdir(parents=True)
    (folder / "a.toml").write_text("=")
    (folder / "b.toml").write_text('primary = "nope"')
    app = make_app(engine, theme="no-such-theme")
    messages = keep_notifications(app)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await pilot.pause()
        assert len([m for m in messages if m.startswith("theme ")]) == 1
        assert any("+1 more" in m for m in messages)
        assert any("no theme named 'no-such-theme'" in m for m in messages)
        assert app.theme == "opscopilot-dark"


async def test_keys_remapped_in_config_drive_the_same_actions(engine):
    app = make_app(engine, keys={"pane.new": "ctrl+t", "copy.tool": "ctrl+k", "nonsense": "x"})
    shown = keep_notifications(app)
    async with app.run_test(size=(140, 30), notifications=True) as pilot:
        await pilot.press("ctrl+t")
        assert len(app.panes) == 2
        assert any("'nonsense' is not a binding id" in message for message in shown)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        from opscopilot.tui.screens.help import keys_table

        rows = keys_table(app.screen.keymap).columns[0]._cells
        assert rows[[a.id for a in APP_ACTIONS].index("pane.new")] == "ctrl+t"
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_every_action_is_in_the_command_palette(engine):
    app = make_app(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        from opscopilot.tui.commands import OpsCommands

        provider = OpsCommands(app.screen)
        titles = [hit.text for hit in [h async for h in provider.discover()]]
        applicable = [a.description for a in APP_ACTIONS if app.action_applies(a.action)]
        assert set(applicable) <= set(titles)
        assert "Theme: opscopilot-light" in titles
        assert [h async for h in provider.search("event log")]
        await pilot.press(*"event log")
        await pilot.pause(0.3)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))
        await pilot.pause()
        assert app.main_screen.query_one(EventLog).has_class("-visible")


async def test_keys_that_do_not_apply_are_hidden(engine):
    app = make_app(engine)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        assert app.check_action("close_pane", ()) is False
        assert app.check_action("focus_reviews", ()) is False
        assert app.action_applies("copy_code") is False  # not offered; its key explains why
        assert app.check_action("cancel_turn", ()) is False
        await pilot.press("ctrl+n")
        assert app.check_action("close_pane", ()) is True
