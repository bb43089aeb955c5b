"""A Rich renderable drawn once per width and then reused.

Textual draws a `Static`'s Rich content at least twice per layout (once to measure its
height, once for its lines), and again whenever the screen is laid out. For content that
is costly to draw and does not change — the help screen's keys table, a piece of a
streamed answer — `DrawnOnce` keeps the lines of the first drawing at each width.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment


class DrawnOnce:
    """`renderable`, drawn at most once per width (its lines and its measure are kept);
    `skip`: lines its drawing starts with that are not shown."""

    def __init__(self, renderable: RenderableType, *, skip: int = 0) -> None:
        self.renderable = renderable
        self.skip = skip
        self._lines: dict[tuple, list[list[Segment]]] = {}
        self._measures: dict[int, Measurement] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Not the height: Textual measures with none and draws with the widget's, and
        # neither a table nor Markdown draws differently for it.
        key = (options.max_width, options.justify, options.overflow, options.no_wrap)
        lines = self._lines.get(key)
        if lines is None:
            lines = console.render_lines(self.renderable, options.update(height=None), pad=False)
            lines = self._lines[key] = lines[self.skip :]
        new_line = Segment.line()
        for line in lines:
            yield from line
            yield new_line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        measure = self._measures.get(options.max_width)
        if measure is None:
            measure = Measurement.get(console, options, self.renderable)
            self._measures[options.max_width] = measure
        return measure
