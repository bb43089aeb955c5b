"""Plain-text rendering of the event vocabulary, for headless replay and other line-mode output.

The streamed text is written exactly as it arrived (every character, no reflow), and each
tool's result in full, so a transcript printed from a recording reproduces the session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opscopilot import events as ev


def _args(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False, separators=(", ", ": "))


def _money(value: float | None, simulated: bool = False) -> str:
    if value is None:
        return "cost unknown"
    return f"${value:.6f}" + (" (simulated)" if simulated else "")


@dataclass
class TranscriptRenderer:
    """Turns events into transcript text; keeps just enough state to place line breaks."""

    show_thinking: bool = False
    _mid_line: bool = False
    _thinking_open: bool = False

    def render(self, event: ev.Event) -> str:
        text = self._render(event)
        if not text:
            return ""
        if event.type not in ("model.text", "model.thinking") and self._mid_line:
            text = "\n" + text
        if event.type not in ("model.text", "model.thinking"):
            self._mid_line = False
            self._thinking_open = False
        return text

    def close(self) -> str:
        """What ends the transcript cleanly (a final newline after streamed text)."""
        return "\n" if self._mid_line else ""

    def _render(self, e: ev.Event) -> str:
        match e:
            case ev.SessionStarted():
                return f"── session {e.session_id} · {e.model} {e.title}".rstrip() + "\n"
            case ev.TurnStarted():
                return f"\n» {e.prompt}\n"
            case ev.ModelText():
                self._mid_line = not e.text.endswith("\n")
                prefix = "\n" if self._thinking_open else ""
                self._thinking_open = False
                return prefix + e.text
            case ev.ModelThinking():
                if not self.show_thinking:
                    return ""
                prefix = "" if self._thinking_open else "(thinking) "
                self._thinking_open = True
                self._mid_line = True
                return prefix + e.text
            case ev.ModelRetry():
                discarded = " — the partial answer above is discarded" if e.discarded_output else ""
                return f"↻ retry {e.attempt} in {e.delay_s:.1f}s ({e.reason}){discarded}\n"
            case ev.ModelFinished() if e.error is not None:
                return f"✗ {e.provider}:{e.model} {e.error.kind}: {e.error.message}\n"
            case ev.ToolProposed():
                return f"⚙ {e.name} {_args(e.arguments)} [{e.risk}]\n"
            case ev.ApprovalRequested():
                return (
                    f"⏸ approval {e.approval_id} needed: {e.name} {_args(e.arguments)} [{e.risk}]\n"
                )
            case ev.ApprovalDecided():
                who = f" by {e.operator}" if e.operator else ""
                why = f": {e.reason}" if e.reason else ""
                edited = f" with {_args(e.arguments)}" if e.arguments is not None else ""
                return (
                    f"{'✔' if e.decision == 'approved' else '✗'} {e.decision}{who}{edited}{why}\n"
                )
            case ev.ToolFinished():
                body = e.content if e.content.endswith("\n") or not e.content else e.content + "\n"
                return f"◆ {e.name} {e.status} ({e.duration_s:.2f}s)\n{body}"
            case ev.BudgetWarning():
                return f"! {e.scope} spend ${e.spent_usd:.4f} of ${e.cap_usd:.4f} cap\n"
            case ev.BudgetCutoff():
                return f"■ cut off: {e.scope} cap ${e.cap_usd:.4f} reached (spent ${e.spent_usd:.4f})\n"
            case ev.TurnFinished():
                error = f" — {e.error.kind}: {e.error.message}" if e.error else ""
                return f"■ turn {e.status} · {_money(e.cost_usd)}{error}\n"
            case ev.Notice():
                return f"[{e.level}] {e.message}\n"
        return ""
