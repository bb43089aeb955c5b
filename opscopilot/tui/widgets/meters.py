"""The cost meter (call/turn/session/today against caps) and the queue meter (scheduler).

Colour comes from theme variables ($meter-ok/-warn/-over) and is never the only signal:
every cell also carries a word and a symbol, for the high-contrast theme and colour-blind
operators alike.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from opscopilot.tui.spend import MeterReading, QueueReading

LEVEL_MARKS = {"ok": "✓ ok", "warn": "▲ WARN", "over": "■ OVER", "none": ""}
SCOPE_LABELS = {"call": "call", "turn": "turn", "session": "session", "day": "today"}


def format_usd(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


NARROW_MARKS = {"ok": "✓", "warn": "▲", "over": "■", "none": ""}


def format_reading(reading: MeterReading, narrow: bool = False) -> str:
    if reading.unknown:  # a model with no known price: never shown as $0
        spent = "unknown" if reading.spent_usd == 0 else f"{format_usd(reading.spent_usd)}+unknown"
    else:
        spent = format_usd(reading.spent_usd)
    text = f"{SCOPE_LABELS[reading.scope]} {spent}"
    if reading.cap_usd is not None:
        text += f"/{format_usd(reading.cap_usd)}"
    if mark := (NARROW_MARKS if narrow else LEVEL_MARKS)[reading.level]:
        text += mark if narrow else f" {mark}"
    return text


class CostMeter(Horizontal):
    """Spend of the focused pane's session against each cap."""

    DEFAULT_CSS = """
    CostMeter { height: 1; width: auto; }
    CostMeter > Static { width: auto; padding: 0 1 0 0; }
    CostMeter > .-ok { color: $meter-ok; }
    CostMeter > .-warn { color: $meter-warn; text-style: bold; }
    CostMeter > .-over { color: $meter-over; text-style: bold reverse; }
    CostMeter > .-none { color: $text-muted; }
    """

    narrow = False  # at 80 columns: symbols for levels, "sim" for "(simulated)"

    def compose(self) -> ComposeResult:
        for scope in SCOPE_LABELS:
            yield Static(f"{SCOPE_LABELS[scope]} $0.0000", id=f"meter-{scope}", classes="-none")

    def show(self, readings: list[MeterReading]) -> None:
        for reading in readings:
            cell = self.query_one(f"#meter-{reading.scope}", Static)
            text = format_reading(reading, self.narrow)
            if reading.scope == "turn" and reading.simulated:
                # builtin:ops is priced at a demo rate, not a bill
                text += " sim" if self.narrow else " (simulated)"
            cell.update(text)
            cell.set_classes(f"-{reading.level}")


class QueueMeter(Static):
    """In flight / queued / capacity, tokens/s, $/min and provider cool-downs."""

    DEFAULT_CSS = """
    QueueMeter { height: 1; width: 1fr; color: $text-muted; }
    QueueMeter.-cooling { color: $meter-warn; }
    QueueMeter.-full { color: $meter-over; }
    """

    def show(self, reading: QueueReading | None) -> None:
        if reading is None:
            self.update("queue: idle")
            self.set_classes("")
            return
        text = (
            f"queue {reading.in_flight} in flight · {reading.queued} queued · "
            f"cap {reading.capacity} · {reading.tokens_per_s:.0f} tok/s · "
            f"{format_usd(reading.usd_per_min)}/min"
        )
        if reading.cooldowns:
            text += " · cool-down " + ", ".join(
                f"{provider} {left:.0f}s" for provider, left in reading.cooldowns.items()
            )
        self.update(text)
        full = reading.capacity > 0 and reading.in_flight >= reading.capacity and reading.queued > 0
        self.set_classes("-full" if full else "-cooling" if reading.cooldowns else "")
