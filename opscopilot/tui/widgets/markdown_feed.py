"""Streamed text into Markdown, at most once per frame, in blocks of bounded size.

A model sends thousands of small deltas a second. Handing each to `MarkdownStream.write()`
costs a task switch and an append (which re-splits the whole document) per token, so the
feed buffers deltas and writes them once per frame. A long answer continues in a fresh
`Markdown` widget at a paragraph break outside code fences, so each append re-parses only
a bounded tail. Segments further back than `LIVE_SEGMENTS` are frozen into one `Static`
each (Rich's Markdown rendering): Textual lays out every widget on every frame, and a
Markdown widget is dozens of them, so without this a long answer slows down as it grows.

Keys come first: when a frame's work (or the event loop's lag behind the frame timer) says
the stream outruns the screen, the next frame comes later (`next_frame_s`, up to
`MAX_FRAME_S`), so drawing takes at most about `BUSY_SHARE` of the loop and a key press
waits for at most one bounded frame; the pace returns to `FRAME_S` when drawing is cheap.
"""

from __future__ import annotations

import asyncio
import re
import time

from rich.markdown import Markdown as RichMarkdown
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

FRAME_S = 1 / 30  # deltas reach the screen at most this often: per-token cost stays flat
MAX_FRAME_S = 0.25  # the slowest pace, for a stream that outruns the screen
BUSY_SHARE = 0.3  # the share of the loop a stream's drawing may take; keys get the rest
SEGMENT_CHARS = 6_000  # past this, the next paragraph break starts a new Markdown block
LIVE_SEGMENTS = 2  # Markdown widgets kept per document; older segments are frozen
_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n\n(?=\S)")


def next_frame_s(current: float, base: float, spent_s: float, lag_s: float) -> float:
    """The interval before the next frame: at once longer when the last frame's work
    (`spent_s`) or the loop's lag behind the timer (`lag_s`) says the screen can't keep up,
    halfway back toward `base` when it can."""
    wanted = max(base, spent_s / BUSY_SHARE, 2 * lag_s)
    if wanted >= current:
        return min(wanted, MAX_FRAME_S)
    return max(base, (current + wanted) / 2)


def inside_code_fence(markdown: str) -> bool:
    """Whether the end of `markdown` lies inside an open fenced code block."""
    return len(_FENCE.findall(markdown)) % 2 == 1


class FrozenMarkdown(Static):
    """A finished segment of a long document: one widget instead of a Markdown's dozens."""

    DEFAULT_CSS = """
    FrozenMarkdown { height: auto; padding: 0 2 0 2; }
    """

    def __init__(self, source: str, *, classes: str = "") -> None:
        super().__init__(classes=classes)
        self.source = source

    def render(self) -> RichMarkdown:
        theme = self.app.current_theme
        code_theme = "monokai" if theme is None or theme.dark else "default"
        return RichMarkdown(self.source, code_theme=code_theme, hyperlinks=False)


Segment = Markdown | FrozenMarkdown


class MarkdownFeed:
    """One growing Markdown document shown through segments under `host`.

    `write` is synchronous and cheap; the buffered text reaches the current segment's
    `MarkdownStream` on a per-frame timer owned by `host`. `text` is everything written.
    Segments carry `classes`, later ones also `-continued`; `segments[0]` is for compose.
    """

    def __init__(
        self,
        host: Widget,
        *,
        classes: str,
        segment_chars: int | None = None,
        live_segments: int | None = None,
        frame_s: float | None = None,
    ) -> None:
        self.host = host
        self.classes = classes
        self.segments: list[Segment] = [Markdown(classes=classes)]
        self.segment_chars = segment_chars or SEGMENT_CHARS
        self.live_segments = LIVE_SEGMENTS if live_segments is None else live_segments
        self.base_frame_s = self.frame_s = frame_s or FRAME_S
        self._due = 0.0  # when the pending frame timer should fire (perf_counter)
        self._parts: list[str] = []
        self._pending: list[str] = []
        self._segment_parts: list[str] = []
        self._segment_chars = 0
        self._stream: MarkdownStream | None = None
        self._timer: Timer | None = None
        self._lock = asyncio.Lock()  # a frame flush and a finish never interleave their awaits

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]  # joined once, then cached
        return self._parts[0] if self._parts else ""

    @property
    def source(self) -> str:
        """What the segments hold once everything written is flushed (their sources joined)."""
        return "".join(segment.source for segment in self.segments)

    def write(self, text: str) -> None:
        if not text:
            return
        self._parts.append(text)
        self._pending.append(text)
        if self._timer is None and self.host.is_mounted:
            self._due = time.perf_counter() + self.frame_s
            self._timer = self.host.set_timer(self.frame_s, self._on_frame, name="markdown-feed")

    async def _on_frame(self) -> None:
        self._timer = None
        started = time.perf_counter()
        await self.flush()
        spent = time.perf_counter() - started
        self.frame_s = next_frame_s(self.frame_s, self.base_frame_s, spent, started - self._due)

    async def flush(self) -> None:
        """Hand everything buffered to the Markdown now (what a frame tick does)."""
        async with self._lock:
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            if not self.segments[-1].is_mounted:
                return  # pruned or closing: `text` keeps the words, there is nothing to draw
            head, complete, tail = self._split(text)
            if not complete and head is None:
                await self._write_to_segment(tail)
                return
            if head:
                await self._write_to_segment(head)
            await self._stop_stream()
            # A burst may complete several segments at once: those that would be frozen at
            # once are mounted frozen, never built as Markdown widgets first.
            keep_live = max(self.live_segments - 1, 0)
            for index, piece in enumerate(complete):
                frozen = index < len(complete) - keep_live
                await self._start_segment(piece, frozen=frozen)
            await self._start_segment("", frozen=False)
            await self._freeze_old_segments()
            if tail:
                await self._write_to_segment(tail)

    def _split(self, text: str) -> tuple[str | None, list[str], str]:
        """(the end of the current segment or None, complete segments after it, the rest):
        segments end at paragraph breaks outside code fences once past `segment_chars`."""
        written = "".join(self._segment_parts)
        size = self._segment_chars
        head: str | None = None
        complete: list[str] = []
        while size + len(text) > self.segment_chars:
            cut = self._next_break(written, size, text)
            if cut is None:
                break
            if head is None:
                head = text[:cut]
            else:
                complete.append(text[:cut])
            written, size, text = "", 0, text[cut:]
        return head, complete, text

    def _next_break(self, written: str, size: int, text: str) -> int | None:
        """Where in `text` this segment may end: a paragraph break, not inside code, that
        leaves the segment at least half full."""
        carried = written[-2:]  # a break may straddle two flushes ("\n\n" then "## ...")
        for found in _PARAGRAPH_BREAK.finditer(carried + text):
            cut = found.end() - len(carried)
            if cut < 0 or size + cut < self.segment_chars // 2:
                continue  # keep segments from being tiny
            if not inside_code_fence(written + text[:cut]):
                return cut
        return None

    async def _write_to_segment(self, text: str) -> None:
        if not text:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self.segments[-1])  # type: ignore[arg-type]
        await self._stream.write(text)
        self._segment_parts.append(text)
        self._segment_chars += len(text)

    async def _start_segment(self, source: str, *, frozen: bool) -> None:
        """Mount the next segment after the last: frozen and complete, or live and empty."""
        classes = f"{self.classes} -continued"
        segment = FrozenMarkdown(source, classes=classes) if frozen else Markdown(classes=classes)
        current = self.segments[-1]
        await current.parent.mount(segment, after=current)  # type: ignore[union-attr]
        self.segments.append(segment)
        if not frozen and source:
            await segment.append(source)  # type: ignore[union-attr]
        self._segment_parts, self._segment_chars = [], 0

    async def _freeze_old_segments(self) -> None:
        live = [i for i, segment in enumerate(self.segments) if isinstance(segment, Markdown)]
        for index in live[: max(len(live) - self.live_segments, 0)]:
            old = self.segments[index]
            frozen = FrozenMarkdown(old.source, classes=" ".join(old.classes))
            with self.host.app.batch_update():
                await old.parent.mount(frozen, before=old)  # type: ignore[union-attr]
                await old.remove()
            self.segments[index] = frozen

    async def _stop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.stop()

    async def finish(self) -> None:
        """Flush what is buffered and stop the stream (its last appends are awaited)."""
        self._cancel_timer()
        await self.flush()
        async with self._lock:
            await self._stop_stream()

    async def clear(self) -> None:
        """Forget everything written: one empty segment again."""
        self._cancel_timer()
        async with self._lock:
            self._pending.clear()
            await self._stop_stream()
            self._parts.clear()
            self._segment_parts = []
            self._segment_chars = 0
            first = self.segments[0]
            if isinstance(first, Markdown):
                await first.update("")
            else:
                fresh = Markdown(classes=self.classes)
                await first.parent.mount(fresh, before=first)  # type: ignore[union-attr]
                first = fresh
            for segment in self.segments:
                if segment is not first:
                    await segment.remove()
            self.segments = [first]

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
