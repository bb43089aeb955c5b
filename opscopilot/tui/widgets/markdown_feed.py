"""Streamed text into Markdown: one live widget while it streams, Textual's Markdown at rest.

A model sends thousands of small deltas a second. The feed buffers them and draws at most
once per frame. While the text streams, the answer's live tail is ONE widget
(`MarkdownPiece`: Rich's Markdown rendering of its source, each block drawn once, see
markdown_piece.py): Textual's `Markdown` mounts a widget per paragraph, list item and code
block, and each mount lays out the whole screen again, so under a fast stream a key waited
behind hundreds of ms of layout.
The tail holds at most about `PIECE_CHARS`: at the next paragraph break outside a code
fence it stays as drawn (its measured height is kept, so it costs nothing per frame) and a
fresh tail starts after it. A frame draws only the block still growing, whatever the
answer's length.

When the answer ends (`finish`) its last `SEGMENT_CHARS` are drawn once by Textual's
`Markdown`, which replaces the pieces that held them, so an answer at rest looks as it
always has; older pieces stay as they are (one widget each).

What is drawn is redacted (`redact`), and the word still arriving is held back until it
ends, so a key split across deltas never shows in part; `text` is everything written.

Keys come first: one frame at a time, each timed from the flush until Textual has laid out
and painted it. When that (or the event loop's lag behind the frame timer) says the stream
outruns the screen, the next frame comes later (`next_frame_s`, up to `MAX_FRAME_S`), so
drawing takes at most about `BUSY_SHARE` of the loop and a key press waits for at most one
bounded frame; the pace returns to `FRAME_S` when drawing is cheap.
"""

from __future__ import annotations

import asyncio
import re
import time
from contextlib import suppress

from textual.timer import Timer
from textual.widget import MountError, Widget
from textual.widgets import Markdown

from opscopilot.redact import redact
from opscopilot.tui.widgets.markdown_piece import MarkdownPiece, inside_code_fence

FRAME_S = 1 / 30  # deltas reach the screen at most this often: per-token cost stays flat
MAX_FRAME_S = 0.25  # the slowest pace, for a stream that outruns the screen
BUSY_SHARE = 0.3  # the share of the loop a stream's drawing may take; keys get the rest
PIECE_CHARS = 6_000  # past this, the next paragraph break starts a new live piece
SEGMENT_CHARS = 6_000  # the end of an answer drawn by Textual's Markdown when it ends
_PARAGRAPH_BREAK = re.compile(r"\n\n(?=\S)")


def next_frame_s(current: float, base: float, spent_s: float, lag_s: float) -> float:
    """The interval before the next frame: at once longer when the last frame's work
    (`spent_s`) or the loop's lag behind the timer (`lag_s`) says the screen can't keep up,
    halfway back toward `base` when it can."""
    wanted = max(base, spent_s / BUSY_SHARE, 2 * lag_s)
    if wanted >= current:
        return min(wanted, MAX_FRAME_S)
    return max(base, (current + wanted) / 2)


def shown_now(text: str) -> str:
    """What of streamed `text` may be drawn now: up to its last whitespace (the word still
    arriving may be the start of a key), redacted."""
    cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
    return redact(text[: cut + 1])


Segment = Markdown | MarkdownPiece


class MarkdownFeed:
    """One growing Markdown document shown through segments under `host`.

    `write` is synchronous and cheap; the buffered text reaches the live piece on a
    per-frame timer owned by `host`. `text` is everything written. Segments carry
    `classes`, later ones also `-continued`; `segments[0]` is for compose.
    """

    def __init__(
        self,
        host: Widget,
        *,
        classes: str,
        piece_chars: int | None = None,
        segment_chars: int | None = None,
        frame_s: float | None = None,
    ) -> None:
        self.host = host
        self.classes = classes
        self.segments: list[Segment] = [MarkdownPiece(classes=classes)]
        self._raw: list[str] = [""]  # what each segment holds, as written (not redacted)
        self.piece_chars = piece_chars or PIECE_CHARS
        self.segment_chars = segment_chars or SEGMENT_CHARS
        self.base_frame_s = self.frame_s = frame_s or FRAME_S
        self.finished = False  # the end is drawn by Textual's Markdown
        self._due = 0.0  # when the pending frame timer should fire (perf_counter)
        self._parts: list[str] = []
        self._pending: list[str] = []
        self._timer: Timer | None = None
        self._in_flight = False  # a frame was flushed and is not on screen yet
        self._lock = asyncio.Lock()  # a frame flush and a finish never interleave their awaits

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]  # joined once, then cached
        return self._parts[0] if self._parts else ""

    @property
    def source(self) -> str:
        """What the segments show (all of `text`, redacted, once it ends or a frame passed
        after a whitespace)."""
        return "".join(segment.source for segment in self.segments)

    @property
    def live(self) -> MarkdownPiece | None:
        """The piece the stream is drawing into, while it streams."""
        last = self.segments[-1]
        return last if isinstance(last, MarkdownPiece) and not self.finished else None

    def write(self, text: str) -> None:
        if not text:
            return
        self._parts.append(text)
        self._pending.append(text)
        if self._timer is None and not self._in_flight and self.host.is_mounted:
            self._schedule()

    def _schedule(self) -> None:
        self._due = time.perf_counter() + self.frame_s
        self._timer = self.host.set_timer(self.frame_s, self._on_frame, name="markdown-feed")

    async def _on_frame(self) -> None:
        """Draw what is buffered; the next frame is timed from when this one is on screen,
        so the pace follows what drawing really costs (Textual lays out and paints after
        the flush, in its own refresh)."""
        self._timer = None
        started = time.perf_counter()
        lag = started - self._due
        await self.flush()
        self._in_flight = True

        def drawn() -> None:
            self._in_flight = False
            spent = time.perf_counter() - started
            self.frame_s = next_frame_s(self.frame_s, self.base_frame_s, spent, lag)
            if self._pending and self._timer is None and self.host.is_mounted:
                self._schedule()

        if not self.host.call_after_refresh(drawn):
            self._in_flight = False

    async def flush(self) -> None:
        """Draw everything buffered now (what a frame tick does)."""
        async with self._lock:
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            if not self._drawable():
                return  # pruned or closing: `text` keeps the words, there is nothing to draw
            if self.finished:  # text after the end (a replayed fragment): a new live piece
                self.finished = False
                await self._append([""], [""])
            complete, rest = self._split(self._raw[-1], text)
            if complete:  # the live piece is whole: it stays as drawn, a new one goes on
                self._raw[-1] = complete[0]
                self.segments[-1].show(redact(complete[0]))  # type: ignore[union-attr]
                # a burst may complete several at once: those are mounted whole, together
                drawn = [redact(piece) for piece in complete[1:]]
                if not await self._append([*drawn, ""], [*complete[1:], rest]):
                    return
            else:
                self._raw[-1] += rest
            self.segments[-1].show(shown_now(self._raw[-1]))  # type: ignore[union-attr]

    def _split(self, written: str, text: str) -> tuple[list[str], str]:
        """(whole pieces, the rest) of the live piece's `written` text followed by `text`:
        a piece ends at the first paragraph break outside code past `piece_chars`."""
        complete: list[str] = []
        start = max(len(written) - 2, 0)  # a break may straddle two flushes ("\n\n" then "#")
        whole = written + text
        while len(whole) > self.piece_chars:
            cut = self._next_break(whole, max(start, self.piece_chars))
            if cut is None:
                break
            complete.append(whole[:cut])
            whole, start = whole[cut:], 0
        return complete, whole[len(written) :] if not complete else whole

    @staticmethod
    def _next_break(text: str, start: int) -> int | None:
        """Where `text` may end a piece: a paragraph break at or after `start`, not in code."""
        for found in _PARAGRAPH_BREAK.finditer(text, max(start - 2, 0)):
            cut = found.end()
            if cut >= start and not inside_code_fence(text[:cut]):
                return cut
        return None

    async def _append(self, drawn: list[str], raw: list[str]) -> bool:
        """Mount pieces showing `drawn` after the last segment (the last of them live):
        False when the screen is closing and there is nowhere to draw."""
        last = self.segments[-1]
        if not self._drawable():
            return False
        pieces = [MarkdownPiece(text, classes=f"{self.classes} -continued") for text in drawn]
        self.segments += pieces
        self._raw += raw
        await last.parent.mount(*pieces, after=last)  # type: ignore[union-attr]
        return True

    async def finish(self) -> None:
        """Flush what is buffered and draw the end with Textual's Markdown (once)."""
        self._cancel_timer()
        await self.flush()
        async with self._lock:
            if self.finished or not self._drawable():
                return
            self.finished = True
            first, size = len(self.segments) - 1, len(self._raw[-1])
            while first > 0 and size + len(self._raw[first - 1]) <= self.segment_chars:
                first -= 1
                size += len(self._raw[first])
            tail, parent = self.segments[first:], self.segments[first].parent
            markdown = Markdown(classes=" ".join(tail[0].classes))
            self.segments[first:] = [markdown]
            self._raw[first:] = ["".join(self._raw[first:])]
            with suppress(MountError), self.host.app.batch_update():  # MountError: closing
                await parent.mount(markdown, before=tail[0])  # type: ignore[union-attr]
                await markdown.update(redact(self._raw[first]))
                await parent.remove_children(tail)  # type: ignore[union-attr]

    def _drawable(self) -> bool:
        """Whether the segments are on a screen that still takes new widgets."""
        last = self.segments[-1]
        return last.is_mounted and last.parent is not None and last.parent.is_attached

    def stop(self) -> None:
        """No more frames (the block leaves the screen): nothing is drawn."""
        self._cancel_timer()
        self._pending.clear()  # so a frame being drawn schedules no other

    async def clear(self) -> None:
        """Forget everything written: one empty live piece again."""
        self._cancel_timer()
        async with self._lock:
            self._pending.clear()
            self._parts.clear()
            self.finished = False
            first = self.segments[0]
            if isinstance(first, MarkdownPiece):
                first.show("")
            else:
                fresh = MarkdownPiece(classes=self.classes)
                await first.parent.mount(fresh, before=first)  # type: ignore[union-attr]
                first = fresh
            for segment in self.segments:
                if segment is not first:
                    await segment.remove()
            self.segments, self._raw = [first], [""]

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
