"""A pane over a long shift: old turns leave the screen and every reference to them goes
(nothing the pane, the footer or the hidden event log holds grows per turn), and the turns
that left stay readable from the store (F12)."""

from __future__ import annotations

import gc
import weakref

import pytest
from textual.widgets import Static

from opscopilot.tui.bindings import APP_ACTIONS
from opscopilot.tui.screens.earlier import EarlierTurnsScreen
from opscopilot.tui.widgets import conversation
from opscopilot.tui.widgets.event_log import EventLog
from opscopilot.tui.widgets.footer import KeysFooter
from tests.tui.conftest import FIXED_NOW, make_app, wait_for

pytestmark = pytest.mark.anyio

MAX_TURNS_SHOWN = 3  # the pane's bound, lowered so the test runs few turns
TURNS = MAX_TURNS_SHOWN + 4


async def run_turns(app, pilot, engine, count: int, start: int = 0) -> None:
    """Turns as the runtime leaves them: a row in the store, and their events in the pane."""
    pane = app.active_pane
    store = engine.store
    if store.get_session(pane.session_id) is None:
        store.create_session(pane.session_id, "builtin:ops", "long shift", FIXED_NOW)
    for n in range(start, start + count):
        store.create_turn(
            f"turn-{n + 1}", pane.session_id, f"question {n}", "builtin:ops", FIXED_NOW + n
        )
        store.update_turn(f"turn-{n + 1}", status="completed", updated_at=FIXED_NOW + n, text="ok")
        await engine.start_turn(pane.session_id, f"question {n}", model="builtin:ops")
        turn_id = f"turn-{n + 1}"
        await wait_for(pilot, lambda: pane.state == "completed" and pane.turn_id == turn_id)  # noqa: B023
        await pilot.pause()


async def test_old_turns_leave_the_screen_with_nothing_left_behind_and_f12_reads_them_back(
    engine, monkeypatch
):
    monkeypatch.setattr(conversation, "MAX_TURNS_SHOWN", MAX_TURNS_SHOWN)
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.active_pane
        await run_turns(app, pilot, engine, MAX_TURNS_SHOWN)
        assert pane.turns_hidden == 0
        first_turn = [weakref.ref(w) for w in [*pane.answers.values(), *pane.tool_cards.values()]]
        first_turn = first_turn[:2]
        # Textual's lru_cache on StylesCache.get_inner_outer outlives the widgets: their
        # caches must hold no drawn lines once the widgets leave.
        first_caches = [weakref.ref(ref()._styles_cache) for ref in first_turn]
        assert any(cache()._cache for cache in first_caches)  # they were drawn

        await run_turns(app, pilot, engine, TURNS - MAX_TURNS_SHOWN, start=MAX_TURNS_SHOWN)
        assert pane.turns_hidden == TURNS - MAX_TURNS_SHOWN
        prompts = [str(s.render()) for s in pane.query(".user-prompt").results(Static)]
        assert prompts == [f"› question {n}" for n in range(TURNS - MAX_TURNS_SHOWN, TURNS)]
        assert len(pane.answers) == MAX_TURNS_SHOWN and len(pane.tool_cards) == MAX_TURNS_SHOWN
        earlier = str(pane.query_one(".earlier-turns", Static).render())
        assert f"▲ {TURNS - MAX_TURNS_SHOWN} earlier turns are kept in the store" in earlier
        # What left the screen is freed, the footer keeps only the keys it shows, and the
        # hidden event log does not queue renders.
        gc.collect()
        assert first_turn and all(ref() is None for ref in first_turn)
        assert all(not cache()._cache for cache in first_caches if cache() is not None)
        footer = app.main_screen.query_one(KeysFooter)
        watchers = getattr(footer, "__watchers", {}).get("compact", [])
        assert len(watchers) <= 2 * len(APP_ACTIONS)  # at most a recompose in flight
        log = app.main_screen.query_one(EventLog)
        assert not log._deferred_renders and log.lines_written > 0

        await pilot.press("f12")
        await wait_for(pilot, lambda: isinstance(app.screen, EarlierTurnsScreen))
        assert [t[0] for t in app.screen.turns] == [
            f"question {n}" for n in range(TURNS - MAX_TURNS_SHOWN)
        ]
        assert all(status == "completed" for _, status, _ in app.screen.turns)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)


async def test_the_app_sets_the_collector_for_a_long_life_when_asked(engine):
    """`opscopilot tui` asks (the process is the app's); an app run among others does not."""
    from opscopilot.tui.app import YOUNG_GC_THRESHOLD

    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    try:
        for tune in (False, True):
            app = make_app(engine, tune_gc=tune)
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_for(pilot, lambda: app.active_pane is not None)  # noqa: B023
                await pilot.pause()
                assert (gc.get_freeze_count() > frozen) is tune
                # the app itself is among what the first frame took out of the collector's walks
                assert any(obj is app for obj in gc.get_objects()) is not tune
                young = YOUNG_GC_THRESHOLD if tune else thresholds[0]
                assert gc.get_threshold() == (young, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
