"""A piece of a Markdown document as ONE widget, drawn block by block.

`MarkdownPiece` shows Rich's Markdown rendering of its source. The source is cut into
blocks at paragraph breaks outside code fences, and each block's lines are drawn once per
width and kept as strips, so when a streaming answer grows, a frame draws only the block
still growing: its height is a sum of line counts, its strips a concatenation of those
already drawn. Blocks are spaced as Rich's Markdown spaces them (the whole document and
the blocks drawn one after the other give the same lines).
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from rich.console import Console, ConsoleOptions
from rich.markdown import Markdown as RichMarkdown
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
from textual.widgets import Static

_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n\n(?=\S)")


def inside_code_fence(markdown: str) -> bool:
    """Whether the end of `markdown` lies inside an open fenced code block."""
    return len(_FENCE.findall(markdown)) % 2 == 1


def markdown_blocks(text: str) -> list[str]:
    """`text` cut after each paragraph break outside a code fence."""
    blocks: list[str] = []
    start = 0
    for found in _PARAGRAPH_BREAK.finditer(text):
        if not inside_code_fence(text[start : found.end()]):  # each block starts outside code
            blocks.append(text[start : found.end()])
            start = found.end()
    blocks.append(text[start:])
    return blocks


class _Markdown(RichMarkdown):
    """Rich's Markdown, parsed by one shared parser: Rich builds a new `MarkdownIt` for
    every document, which costs more than parsing a block (and a live block is new on
    every frame)."""

    _parser = MarkdownIt().enable("strikethrough").enable("table")

    def __init__(self, markup: str, *, code_theme: str) -> None:
        self.markup = markup
        self.parsed = self._parser.parse(markup)
        self.code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = False
        self.inline_code_lexer = None
        self.inline_code_theme = code_theme


class BlockDrawing:
    """One block's lines, drawn once per width; its strips once per width and style."""

    def __init__(self, block: str, *, first: bool, code_theme: str) -> None:
        # After a paragraph, as in the whole document (a list alone starts with a blank
        # line): that paragraph and the blank line after it are not shown.
        self.markdown = _Markdown(block if first else "x\n\n" + block, code_theme=code_theme)
        self.skip = 0 if first else 2
        self._lines: dict[int, list[list[Segment]]] = {}
        self._strips: dict[tuple[int, RichStyle], list[Strip]] = {}

    def lines(self, console: Console, options: ConsoleOptions, width: int) -> list[list[Segment]]:
        lines = self._lines.get(width)
        if lines is None:
            drawn = console.render_lines(self.markdown, options.update_width(width), pad=False)
            lines = self._lines[width] = drawn[self.skip :]
        return lines

    def strips(
        self, console: Console, options: ConsoleOptions, width: int, style: RichStyle
    ) -> list[Strip]:
        strips = self._strips.get((width, style))
        if strips is None:
            strips = [
                Strip(Segment.apply_style(line, style), cell_length=None)
                for line in self.lines(console, options, width)
            ]
            self._strips = {(width, style): strips}  # one style at a time is in use
        return strips


class BlocksVisual(Visual):
    """Blocks one after the other, a blank line between them."""

    def __init__(self, blocks: list[BlockDrawing]) -> None:
        self.blocks = blocks

    @staticmethod
    def _console() -> tuple[Console, ConsoleOptions]:
        from textual._context import active_app

        app = active_app.get()
        return app.console, app.console_options.update(highlight=False, height=None)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width

    def get_height(self, rules: RulesMap, width: int) -> int:
        if not self.blocks:
            return 0
        console, options = self._console()
        lines = sum(len(block.lines(console, options, width)) for block in self.blocks)
        return lines + len(self.blocks) - 1

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        console, console_options = self._console()
        rich_style = style.rich_style
        strips: list[Strip] = []
        blank = Strip([])
        for index, block in enumerate(self.blocks):
            if index:
                strips.append(blank)
            strips.extend(block.strips(console, console_options, width, rich_style))
            if height is not None and len(strips) >= height:
                return strips[:height]
        return strips


class MarkdownPiece(Static):
    """A piece of a document as one widget: Rich's Markdown rendering of `source`."""

    DEFAULT_CSS = """
    MarkdownPiece { height: auto; padding: 0 2 0 2; }
    """

    def __init__(self, source: str = "", *, classes: str = "") -> None:
        super().__init__(classes=classes)
        self.source = source
        self._code_theme = ""
        self._drawn: dict[tuple[bool, str], BlockDrawing] = {}  # (first, block) -> drawing
        self._visual: BlocksVisual | None = None

    def show(self, source: str) -> None:
        """Draw `source` instead (on the next frame): only its changed blocks are drawn."""
        if source != self.source:
            self.source = source
            self._visual = None
            self.refresh(layout=True)

    def render(self) -> BlocksVisual:
        theme = self.app.current_theme
        code_theme = "monokai" if theme is None or theme.dark else "default"
        if code_theme != self._code_theme:
            self._code_theme, self._drawn, self._visual = code_theme, {}, None
        if self._visual is None:
            drawn: dict[tuple[bool, str], BlockDrawing] = {}
            blocks: list[BlockDrawing] = []
            if self.source:
                for index, block in enumerate(markdown_blocks(self.source)):
                    key = (index == 0, block)
                    drawing = drawn.get(key) or self._drawn.get(key)
                    if drawing is None:
                        drawing = BlockDrawing(block, first=index == 0, code_theme=code_theme)
                    drawn[key] = drawing
                    blocks.append(drawing)
            self._drawn = drawn  # blocks no longer shown are forgotten
            self._visual = BlocksVisual(blocks)
        return self._visual
