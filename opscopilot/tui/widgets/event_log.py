"""The event log pane: one line per event, as the store records them (text deltas folded)."""

from __future__ import annotations

import time
from collections import deque

from textual.widgets import RichLog

from opscopilot import events as ev
from opscopilot.redact import redact

MAX_LINES = 1000


def describe(event: ev.Event) -> str:
    """One readable line for an event, secrets masked."""
    detail = ""
    if isinstance(event, ev.TurnStarted):
        detail = f"{event.model} {event.prompt!r}"
    elif isinstance(event, ev.TurnStateChanged):
        detail = f"{event.previous} → {event.state}"
    elif isinstance(event, ev.TurnFinished):
        detail = event.status + (f" {event.error.kind}" if event.error else "")
    elif isinstance(event, ev.ModelCallStarted):
        detail = f"{event.provider}:{event.model} attempt {event.attempt}"
    elif isinstance(event, ev.ModelFinished):
        detail = f"{event.finish_reason} out={event.usage.output_tokens}"
    elif isinstance(event, ev.ModelRetry):
        detail = f"attempt {event.attempt} in {event.delay_s:.1f}s: {event.reason}"
    elif isinstance(event, (ev.ToolProposed, ev.ApprovalRequested)):
        detail = f"{event.name} {event.risk}"
    elif isinstance(event, ev.ApprovalDecided):
        detail = f"{event.approval_id} {event.decision} {event.operator}"
    elif isinstance(event, (ev.ToolStarted, ev.ModelToolCall)):
        detail = event.name
    elif isinstance(event, ev.ToolFinished):
        detail = f"{event.name} {event.status} {event.duration_s:.2f}s"
    elif isinstance(event, (ev.BudgetWarning, ev.BudgetCutoff)):
        detail = f"{event.scope} ${event.spent_usd:.4f}/${event.cap_usd:.4f}"
    elif isinstance(event, ev.SchedulerMetrics):
        detail = f"in_flight={event.in_flight} queued={event.queued}"
    elif isinstance(event, ev.Notice):
        detail = f"{event.level}: {event.message}"
    clock = time.strftime("%H:%M:%S", time.gmtime(event.ts))
    return redact(f"{clock} {event.type:<18} {event.session_id or '-':<14} {detail}")


class EventLog(RichLog):
    """Every event, newest at the bottom; streaming text and output are summarised, not echoed."""

    DEFAULT_CSS = """
    EventLog { height: 10; border: round $panel-lighten-2; display: none; }
    EventLog.-visible { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(id="event-log", max_lines=MAX_LINES, markup=False, wrap=False)
        self.border_title = "events"
        self.lines_written = 0
        # While hidden, RichLog would defer every write unbounded (it has no size to render
        # at); the newest MAX_LINES wait here instead and are written when the log shows.
        self._hidden_lines: deque[str] = deque(maxlen=MAX_LINES)

    def record(self, event: ev.Event) -> None:
        if isinstance(event, (ev.ModelText, ev.ModelThinking, ev.ToolOutput, ev.ModelUsage)):
            return  # per-token noise; the pane shows it
        self.lines_written += 1
        if not self.has_class("-visible"):
            self._hidden_lines.append(describe(event))
            return
        self.write(describe(event))

    def toggle_shown(self) -> None:
        self.toggle_class("-visible")
        if self.has_class("-visible"):
            while self._hidden_lines:
                self.write(self._hidden_lines.popleft())
