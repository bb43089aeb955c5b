"""Streaming stays cheap per token: deltas are buffered per frame into one live widget, skip
key-binding refreshes, long answers continue in bounded pieces and end as Textual's Markdown,
what is drawn is redacted, keys are handled while a fast stream runs, and nothing is drawn
while the app shuts down."""

from __future__ import annotations

import asyncio
import re

import pytest
from textual import events
from textual.widgets import Markdown, RichLog

from opscopilot import events as ev
from opscopilot.tui.app import EngineEvent, EventsArrived
from opscopilot.tui.screens.help import HelpScreen
from opscopilot.tui.widgets import markdown_feed
from opscopilot.tui.widgets.markdown_feed import MarkdownPiece, inside_code_fence
from opscopilot.tui.widgets.tool_card import ToolCard
from tests.tui.conftest import FIXED_NOW, make_app, wait_for

pytestmark = pytest.mark.anyio

SECTION = """## Step {k}

Check the gateway **{k}** times; the upstream closed connections after 30 s.

```sh
journalctl -u nginx -n 50

grep -c 'upstream prematurely' /var/log/nginx/error.log
```

- p99 latency: 812 ms
- workers: 4

"""


def tokens_of(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+", text)


def ids(pane, turn_id: str = "t-1") -> dict:
    return {"ts": FIXED_NOW, "session_id": pane.session_id, "turn_id": turn_id}


def finished(pane, call_id: str = "c-1") -> ev.ModelFinished:
    return ev.ModelFinished(
        **ids(pane), call_id=call_id, provider="openai", model="gpt-4o-mini", finish_reason="stop"
    )


async def start_call(app, pane, call_id: str = "c-1") -> None:
    await app.ingest(ev.TurnStarted(**ids(pane), prompt="why 5xx?", model="openai:gpt-4o-mini"))
    await app.ingest(
        ev.ModelCallStarted(**ids(pane), call_id=call_id, provider="openai", model="gpt-4o-mini")
    )


async def test_deltas_reach_one_live_piece_once_per_frame_and_end_as_one_markdown(
    engine, monkeypatch
):
    shows: list[str] = []
    original_show = MarkdownPiece.show

    def counting_show(self, source: str) -> None:
        if source != self.source:
            shows.append(source)
        original_show(self, source)

    monkeypatch.setattr(MarkdownPiece, "show", counting_show)
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.active_pane
        await start_call(app, pane)
        await pilot.pause()
        refreshes: list[int] = []
        app.refresh_bindings = lambda: refreshes.append(1)  # type: ignore[method-assign]
        text = SECTION.format(k=1) * 3
        for token in tokens_of(text):
            await app.ingest(ev.ModelText(**ids(pane), call_id="c-1", text=token))
        assert refreshes == []  # a token changes no key (the old code rebuilt the Footer)
        block = pane.answers["c-1"]
        await wait_for(pilot, lambda: block.markdown_source == text)
        assert len(tokens_of(text)) > 100
        assert len(shows) <= 2  # all the tokens fed back to back arrive in one frame
        # While it streams the answer is one widget: no Markdown block is mounted per
        # paragraph, list item or code block (each such mount laid out the whole screen).
        assert [type(w) for w in pane.query(".answer-text")] == [MarkdownPiece]
        assert not pane.query("MarkdownBlock")
        assert pane.last_answer_text == text

        await app.ingest(finished(pane))
        markdown = pane.query_one(".answer-text", Markdown)  # at rest: Textual's Markdown
        assert markdown.source == text and not pane.query(MarkdownPiece)
        assert pane.query("MarkdownBlock")


async def test_a_long_answer_streams_in_bounded_pieces_split_outside_code_and_ends_in_markdown(
    engine, monkeypatch
):
    monkeypatch.setattr(markdown_feed, "PIECE_CHARS", 500)  # the same splits, sooner
    monkeypatch.setattr(markdown_feed, "SEGMENT_CHARS", 1_500)
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.active_pane
        await start_call(app, pane)
        text = "".join(SECTION.format(k=k) for k in range(1, 26))  # ~5,000 characters
        tokens = tokens_of(text)
        block = pane.answers["c-1"]
        for start in range(0, len(tokens), 100):  # a fast model: many frames, many tokens each
            for token in tokens[start : start + 100]:
                await app.ingest(ev.ModelText(**ids(pane), call_id="c-1", text=token))
            await wait_for(pilot, lambda: not block._answer._pending)  # a frame drew them
        segments = block._answer.segments
        assert len(segments) >= 6
        assert all(type(s) is MarkdownPiece for s in segments)  # no Markdown while streaming
        assert not pane.query("MarkdownBlock")
        assert block._answer.live is segments[-1]  # one live piece: the others stay as drawn
        assert all(not inside_code_fence(s.source) for s in segments[:-1])  # never split in code
        assert all(len(s.source) < 1_000 for s in segments[:-1])

        await app.ingest(finished(pane))
        segments = block._answer.segments
        assert block.markdown_source == text == pane.last_answer_text
        assert all(type(s) is MarkdownPiece for s in segments[:-1])
        assert type(segments[-1]) is Markdown and len(segments[-1].source) <= 1_500
        assert block._answer.live is None
        await pilot.press("ctrl+y")
        assert app.clipboard == text  # copying takes the whole answer, not the last block


async def test_what_streams_is_drawn_redacted_and_a_key_arriving_in_parts_never_shows(engine):
    key = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5q"
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.active_pane
        await start_call(app, pane)
        drawn: list[str] = []
        block = pane.answers["c-1"]
        for part in ["The key is ", key[:10], key[10:], " and it works.\n\n", "Done"]:
            await app.ingest(ev.ModelText(**ids(pane), call_id="c-1", text=part))
            await wait_for(pilot, lambda: not block._answer._pending)
            drawn.append(block.markdown_source)
        assert all("sk-proj" not in source for source in drawn)  # not even its first half
        assert drawn[-1] == "The key is [REDACTED] and it works.\n\n"  # "Done" still arriving
        await app.ingest(finished(pane))
        assert block.markdown_source == "The key is [REDACTED] and it works.\n\nDone"
        assert pane.last_answer_text.count(key) == 1  # the answer's text itself is as written


async def test_a_retry_that_voids_the_output_clears_every_block_and_keeps_the_thinking(
    engine, monkeypatch
):
    monkeypatch.setattr(markdown_feed, "PIECE_CHARS", 500)
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.active_pane
        await start_call(app, pane)
        await app.ingest(ev.ModelThinking(**ids(pane), call_id="c-1", text="Check nginx first."))
        for token in tokens_of("".join(SECTION.format(k=k) for k in range(1, 30))):
            await app.ingest(ev.ModelText(**ids(pane), call_id="c-1", text=token))
        block = pane.answers["c-1"]
        await wait_for(pilot, lambda: len(block._answer.segments) > 2)
        await app.ingest(
            ev.ModelRetry(
                **ids(pane),
                call_id="c-1",
                attempt=2,
                delay_s=0.5,
                reason="502 from upstream",
                discarded_output=True,
            )
        )
        await app.ingest(ev.ModelText(**ids(pane), call_id="c-1", text="Second try: all good.\n"))
        await wait_for(pilot, lambda: block.markdown_source == "Second try: all good.\n")
        assert [type(s) for s in block._answer.segments] == [MarkdownPiece]
        assert pane.last_answer_text == "Second try: all good.\n"
        assert block.thinking == "Check nginx first."
        assert "retrying: 502 from upstream" in str(block._meta.render())


async def test_a_key_is_handled_while_a_fast_stream_keeps_arriving(engine):
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.active_pane
        await start_call(app, pane)
        tokens = tokens_of("".join(SECTION.format(k=k) for k in range(1, 400)))
        fed = 0

        async def stream() -> None:
            """As the live path delivers them (the pump's inbox, one EventsArrived message
            per batch), as fast as the app takes them: the next batch once it took the last."""
            nonlocal fed
            for start in range(0, len(tokens), 200):
                texts = tokens[start : start + 200]
                app._inbox.extend(ev.ModelText(**ids(pane), call_id="c-1", text=t) for t in texts)
                app.post_message(EventsArrived())
                fed = start + 200
                while app._inbox:
                    await asyncio.sleep(0)

        producer = asyncio.create_task(stream())
        while fed == 0:
            await asyncio.sleep(0)
        app._driver.send_message(events.Key("f1", None))  # as a terminal sends it
        while not isinstance(app.screen, HelpScreen) and not producer.done():
            await asyncio.sleep(0)
        handled_at = fed
        assert isinstance(app.screen, HelpScreen)
        assert not producer.done()  # the key did not wait for the stream to end
        while fed == handled_at and not producer.done():
            await asyncio.sleep(0)
        assert fed > handled_at  # and the stream did not stop for it
        producer.cancel()
        await pilot.press("escape")


async def test_tool_output_lines_reach_the_log_batched_per_frame(engine, monkeypatch):
    writes: list[tuple[object, object]] = []
    original_write = RichLog.write

    def counting_write(self, content, *args, **kwargs):
        writes.append((self, content))
        return original_write(self, content, *args, **kwargs)

    monkeypatch.setattr(RichLog, "write", counting_write)
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.active_pane
        await app.ingest(
            ev.ToolStarted(
                **ids(pane),
                tool_call_id="tc-1",
                name="run_command",
                arguments={"command": "journalctl -n 500"},
            )
        )
        for n in range(500):
            await app.ingest(ev.ToolOutput(**ids(pane), tool_call_id="tc-1", text=f"line {n}"))
        card = pane.query_one(ToolCard)
        log = card.query_one(RichLog)
        await wait_for(pilot, lambda: len(log.lines) >= 500)
        assert len([w for w in writes if w[0] is log]) <= 2  # the event log is a RichLog too
        assert log.lines[0].text == "line 0" and log.lines[499].text == "line 499"
        assert pane.last_tool_output == "".join(f"line {n}\n" for n in range(500))


async def test_events_arriving_while_the_app_shuts_down_are_dropped_quietly(engine):
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.active_pane
        await start_call(app, pane)
        await pilot.pause()
        for n in range(300):  # still queued when the app starts closing
            app.post_message(EngineEvent(ev.ModelText(**ids(pane), call_id="c-1", text=f"w{n} ")))
        app.post_message(EngineEvent(ev.TurnFinished(**ids(pane), status="completed")))
        app.exit()
    # run_test re-raises what a handler raised (it used to be IndexError in main_screen)
    assert app.return_code in (0, None)
    await app.ingest(ev.Notice(ts=FIXED_NOW, level="warning", message="after the end"))


def test_the_feed_slows_its_frames_when_the_stream_outruns_the_screen_and_recovers():
    from opscopilot.tui.widgets.markdown_feed import (
        BUSY_SHARE,
        FRAME_S,
        MAX_FRAME_S,
        next_frame_s,
    )

    assert next_frame_s(FRAME_S, FRAME_S, spent_s=0.002, lag_s=0.0) == FRAME_S  # cheap: as is
    slower = next_frame_s(FRAME_S, FRAME_S, spent_s=0.03, lag_s=0.0)
    assert slower == pytest.approx(0.03 / BUSY_SHARE)  # drawing takes at most its share
    assert next_frame_s(FRAME_S, FRAME_S, spent_s=0.0, lag_s=0.08) == pytest.approx(0.16)
    assert next_frame_s(FRAME_S, FRAME_S, spent_s=1.0, lag_s=2.0) == MAX_FRAME_S  # bounded
    pace = MAX_FRAME_S
    for _ in range(10):  # drawing is cheap again: back to the base rate, halving the gap
        pace = next_frame_s(pace, FRAME_S, spent_s=0.001, lag_s=0.0)
    assert pace == pytest.approx(FRAME_S, rel=0.01)
