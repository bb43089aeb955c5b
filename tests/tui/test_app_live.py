"""The TUI over the REAL runtime: the queue meter fed by the scheduler's metrics while a call
streams from the loopback server, cancelling a turn (F9), and `tui --record`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.widgets import Input

from opscopilot import events as ev
from opscopilot.cli.main import cli
from opscopilot.replay.live import recording_settings
from opscopilot.replay.recording import read_recording
from opscopilot.tui.app import create_app
from opscopilot.tui.runtime_engine import RuntimeEngine
from opscopilot.tui.widgets.meters import QueueMeter
from tests.runtime.support import CHAT_PATH, TEST_KEY, chunk, text_reply, usage_chunk
from tests.support.wire_server import Reply, sse
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio
MODEL = "openai:gpt-4o-mini"


@pytest.fixture
def openai_server(wire_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    return wire_server


async def ask(pilot, app, text: str) -> None:
    app.main_screen.query_one("#prompt", Input).value = text
    await pilot.press("enter")


def meter_text(app) -> str:
    return str(app.main_screen.query_one(QueueMeter).render())


def held_stream(release: threading.Event) -> Reply:
    """An answer that keeps streaming words until the test releases it, then finishes: the
    call is in flight, with tokens arriving, for as long as the test needs to look."""

    def body() -> Iterator[bytes]:
        yield sse(chunk({"role": "assistant", "content": ""}))
        words = 0
        while not release.is_set() or words == 0:
            yield sse(chunk({"content": "upstream "}))
            words += 1
            release.wait(0.02)
        yield sse(chunk({}, "stop"), usage_chunk(80, words), "[DONE]")

    return Reply(body=body(), pieces=None)


async def test_the_queue_meter_shows_the_call_in_flight_and_its_tokens_per_second(openai_server):
    release = threading.Event()
    openai_server.handle(CHAT_PATH, lambda _request: held_stream(release))
    app = create_app(model=MODEL, deterministic=True, poll_interval=0.2)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            assert meter_text(app) == "queue: idle"
            await ask(pilot, app, "why 502?")

            def streaming() -> bool:
                latest = app.queue.latest
                return (
                    isinstance(latest, ev.SchedulerMetrics)
                    and latest.in_flight == 1
                    and latest.tokens_per_s > 0
                    and latest.usd_per_min > 0
                )

            # The stream goes on until released: whenever the machine gets to it, the meter
            # sees the call in flight with tokens arriving.
            await wait_for(pilot, streaming, timeout=60)
            await wait_for(pilot, lambda: "1 in flight" in meter_text(app), timeout=60)
            text = meter_text(app)
            assert "0 queued" in text and "cap 8" in text and "tok/s" in text
            release.set()
            pane = app.active_pane
            await wait_for(pilot, lambda: pane.state == "completed", timeout=60)
            await wait_for(pilot, lambda: "0 in flight" in meter_text(app), timeout=60)
    finally:
        release.set()
        app.engine.close()


async def test_f9_cancels_the_turn_streaming_in_the_focused_pane(openai_server):
    slow = " ".join(["word"] * 400)
    openai_server.handle(CHAT_PATH, lambda _request: text_reply(slow, delay_s=0.05))
    app = create_app(model=MODEL, deterministic=True, poll_interval=0.2)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.active_pane
        assert not app.check_action("cancel_turn", ())  # nothing to cancel yet
        await ask(pilot, app, "a long answer please")
        await wait_for(pilot, lambda: "word" in pane.last_answer_text, timeout=60)
        assert app.check_action("cancel_turn", ())
        await pilot.press("f9")
        await wait_for(pilot, lambda: pane.state == "cancelled", timeout=60)
        turn = app.engine.store.get_turn(pane.turn_id)
        assert turn.status == "cancelled"
        assert len(pane.last_answer_text) < len(slow)  # stopped mid-stream, partial text kept
    app.engine.close()


async def test_f9_on_a_turn_waiting_for_approval_cancels_it_and_denies_what_it_waited_for():
    app = create_app(deterministic=True, poll_interval=0.2)  # builtin:ops, offline
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.active_pane
        await ask(pilot, app, "restart nginx")
        await wait_for(pilot, lambda: len(app.pending) == 1, timeout=60)
        await pilot.press("f9")
        await wait_for(pilot, lambda: pane.state == "cancelled" and not app.pending, timeout=60)
        (record,) = app.engine.store.list_approvals(status=None)
        assert (record.status, record.decision_reason) == ("denied", "the turn was cancelled")
        assert {c.status for c in pane.tool_cards.values()} <= {"ok", "not_run"}
        assert "not_run" in {c.status for c in pane.tool_cards.values()}  # not "awaiting"
    app.engine.close()


async def test_tui_record_writes_each_session_live_equal_to_its_export(tmp_path, isolated_home):
    engine = RuntimeEngine(recording=recording_settings(True))
    app = create_app(engine=engine, deterministic=True, poll_interval=0.2)
    # Every message shown, kept here: a toast expires after a few seconds, and on a loaded
    # machine the turn can outlast it.
    shown: list[str] = []
    notify = app.notify
    app.notify = lambda message, *args, **kwargs: (  # type: ignore[method-assign]
        shown.append(str(message)),
        notify(message, *args, **kwargs),
    )[1]
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        pane = app.active_pane
        await ask(pilot, app, "how full are the disks?")
        await wait_for(pilot, lambda: pane.state == "completed")
        await wait_for(pilot, lambda: any("recording" in message for message in shown))
        session_id = pane.session_id
    engine.close()
    live_path = isolated_home / "recordings" / f"{session_id}.jsonl"
    assert engine.recorder.paths == {session_id: live_path}

    exported = tmp_path / "export.jsonl"
    result = CliRunner().invoke(cli, ["sessions", "export", session_id, "-o", str(exported)])
    assert result.exit_code == 0, result.output
    live, stored = read_recording(live_path), read_recording(Path(exported))
    assert [t.event for t in live.events] == [t.event for t in stored.events]
    assert any(isinstance(t.event, ev.ToolFinished) for t in live.events)
