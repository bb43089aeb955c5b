"""A tool call as a card: name, arguments, risk, status, live output, duration."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import RichLog, Static

from opscopilot.redact import redact
from opscopilot.tui.widgets.markdown_feed import FRAME_S

RISK_MARKS = {"read": "● read", "write": "▲ write", "destructive": "■ destructive"}
STATUS_MARKS = {
    "proposed": "proposed",
    "awaiting": "⏸ awaiting approval",
    "approved": "✓ approved",
    "running": "▶ running",
    "ok": "✓ ok",
    "error": "✗ error",
    "denied": "✗ denied",
    "timeout": "⌛ timeout",
    "unknown": "? unknown",
    "expired": "✗ expired",
    "not_run": "– not run",
}
# What a card still says when its turn ends: the call never got a result.
UNSETTLED = frozenset({"proposed", "awaiting", "approved", "running"})
MAX_OUTPUT_LINES = 2000


def format_arguments(arguments: dict[str, Any], limit: int = 200) -> str:
    """Arguments on one line, secrets masked, long values shortened."""
    text = redact(json.dumps(arguments, ensure_ascii=False, sort_keys=True))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ToolCard(Vertical):
    """One tool call; the pane updates it as tool events arrive."""

    DEFAULT_CSS = """
    ToolCard {
        height: auto;
        border: round $secondary;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    ToolCard.-risk-read { border: round $risk-read; }
    ToolCard.-risk-write { border: round $risk-write; }
    ToolCard.-risk-destructive { border: heavy $risk-destructive; }
    ToolCard > .tool-args { color: $text-muted; }
    ToolCard > RichLog { height: auto; max-height: 10; background: $surface; }
    """

    def __init__(self, tool_call_id: str, name: str, arguments: dict[str, Any]) -> None:
        super().__init__(id=None, classes="tool-card")
        self.tool_call_id = tool_call_id
        self.tool_name = name
        self.arguments = dict(arguments)
        self.risk = ""
        self.approval_id: str | None = None
        self.status = "proposed"
        self.duration_s: float | None = None
        self.output_parts: list[str] = []
        self.border_title = name
        self._header = Static(self._header_text(), classes="tool-header")
        self._arguments = Static(
            format_arguments(self.arguments), classes="tool-args", markup=False
        )
        # Wraps long lines to the card's width (a narrow terminal loses nothing off the edge).
        self._log = RichLog(
            max_lines=MAX_OUTPUT_LINES, auto_scroll=True, wrap=True, markup=False, highlight=False
        )
        self._log.display = False
        self._unshown: list[str] = []  # output lines waiting for the next frame
        self._frame: Timer | None = None

    def compose(self) -> ComposeResult:
        yield self._header
        yield self._arguments
        yield self._log

    def on_mount(self) -> None:
        if self._unshown:
            self._show_output()

    def _header_text(self) -> str:
        parts = [
            RISK_MARKS.get(self.risk, self.risk) or "…",
            STATUS_MARKS.get(self.status, self.status),
        ]
        if self.duration_s is not None:
            parts.append(f"{self.duration_s:.2f}s")
        return "  ·  ".join(parts)

    def _refresh_header(self) -> None:
        self._header.update(self._header_text())

    def set_arguments(self, arguments: dict[str, Any]) -> None:
        self.arguments = dict(arguments)
        self._arguments.update(format_arguments(self.arguments))

    def set_risk(self, risk: str) -> None:
        self.remove_class(f"-risk-{self.risk}")
        self.risk = risk
        self.add_class(f"-risk-{risk}")
        self._refresh_header()

    def set_status(self, status: str, duration_s: float | None = None) -> None:
        self.status = status
        if duration_s is not None:
            self.duration_s = duration_s
        self._refresh_header()

    def append_output(self, text: str) -> None:
        """One ToolOutput: the tools layer sends a line at a time, without its newline."""
        text = redact(text)
        if not text.endswith("\n"):
            text += "\n"
        self.output_parts.append(text)
        self._unshown.append(text)
        if self._frame is None and self.is_mounted:  # lines reach the Log once per frame
            self._frame = self.set_timer(FRAME_S, self._show_output, name="tool-output")

    def _show_output(self) -> None:
        self._frame = None
        if self._unshown:
            self._log.display = True
            self._log.write(Text("".join(self._unshown).removesuffix("\n")))
            self._unshown.clear()

    def set_final_content(self, content: str) -> None:
        """Show the result when no live output streamed (e.g. read_file)."""
        if not self.output_parts and content:
            self.append_output(content)

    @property
    def output(self) -> str:
        if len(self.output_parts) > 1:
            self.output_parts[:] = ["".join(self.output_parts)]  # joined once, then cached
        return self.output_parts[0] if self.output_parts else ""
