"""Streamed text into Markdown, at most once per frame, in blocks of bounded size.

A model sends thousands of small deltas a second. Handing each to `MarkdownStream.write()`
costs a task switch and an append (which re-splits the whole document) per token, so the
feed buffers deltas and writes them once per frame. A long answer continues in a fresh
`Markdown` widget at a paragraph break outside code fences, so each append re-parses only
a bounded tail and the answer does not slow down as it grows.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownStream

FRAME_S = 1 / 30  # deltas reach the screen at most this often: per-token cost stays flat
SEGMENT_CHARS = 6_000  # past this, the next paragraph break starts a new Markdown block
_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n\n(?=\S)")


def inside_code_fence(markdown: str) -> bool:
    """Whether the end of `markdown` lies inside an open fenced code block."""
    return len(_FENCE.findall(markdown)) % 2 == 1


class MarkdownFeed:
    """One growing Markdown document shown through `Markdown` segments under `host`.

    `write` is synchronous and cheap; the buffered text reaches the current segment's
    `MarkdownStream` on a per-frame timer owned by `host`. `text` is everything written.
    """

    def __init__(
        self,
        host: Widget,
        first: Markdown,
        *,
        new_segment: Callable[[], Markdown],
        segment_chars: int = SEGMENT_CHARS,
        frame_s: float = FRAME_S,
    ) -> None:
        self.host = host
        self.segments: list[Markdown] = [first]
        self.new_segment = new_segment
        self.segment_chars = segment_chars
        self.frame_s = frame_s
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
            self._timer = self.host.set_timer(self.frame_s, self._on_frame, name="markdown-feed")

    async def _on_frame(self) -> None:
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        """Hand everything buffered to the Markdown now (what a frame tick does)."""
        async with self._lock:
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            if not self.segments[-1].is_mounted:
                return  # pruned or closing: `text` keeps the words, there is nothing to draw
            while self._segment_chars + len(text) > self.segment_chars:
                rest = await self._continue_in_new_segment(text)
                if rest is None:
                    break  # no paragraph break outside code yet: this segment grows on
                text = rest
            if text:
                await self._write_to_segment(text)

    async def _write_to_segment(self, text: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.segments[-1])
        await self._stream.write(text)
        self._segment_parts.append(text)
        self._segment_chars += len(text)

    async def _continue_in_new_segment(self, text: str) -> str | None:
        """Write `text` up to a paragraph break outside code into this segment, start the
        next one and return the rest; None when `text` has no such break."""
        written = "".join(self._segment_parts)
        carried = written[-2:]  # a break may straddle two flushes ("\n\n" then "## ...")
        for found in _PARAGRAPH_BREAK.finditer(carried + text):
            cut = found.end() - len(carried)
            if cut < 0:
                continue
            if self._segment_chars + cut < self.segment_chars // 2:
                continue  # keep segments from being tiny
            if inside_code_fence(written + text[:cut]):
                continue
            if cut:
                await self._write_to_segment(text[:cut])
            await self._stop_stream()
            current = self.segments[-1]
            segment = self.new_segment()
            await current.parent.mount(segment, after=current)  # type: ignore[union-attr]
            self.segments.append(segment)
            self._segment_parts = []
            self._segment_chars = 0
            return text[cut:]
        return None

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
            first, extra = self.segments[0], self.segments[1:]
            for segment in extra:
                await segment.remove()
            self.segments = [first]
            await first.update("")

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
