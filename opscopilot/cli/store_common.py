"""What the `sessions` and `approvals` commands share: opening the store, errors, times, JSON."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click

from opscopilot.money import money_total

if TYPE_CHECKING:
    from opscopilot.store import Store


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and the exit code the command-line contract gives it."""
    from opscopilot.redact import redact

    click.echo(f"error: {redact(message)}", err=True)
    sys.exit(code)


def open_store() -> Store:
    """The operator's database; an unreadable one is one line and exit 1."""
    from opscopilot.store import Store, StoreError

    try:
        return Store.open()
    except StoreError as exc:
        fail(str(exc))


def local_time(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


NARROW_COLUMNS = 100  # below this, tables drop secondary columns instead of breaking words


def table_console() -> tuple[Any, bool]:
    """A rich Console for tables and whether it is narrow: a terminal's own width, or
    $COLUMNS, or (piped) a wide stable 200 columns."""
    import os
    import sys

    from rich.console import Console

    width = None
    if not sys.stdout.isatty():
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else 200
    console = Console(width=width, highlight=False)
    return console, console.width < NARROW_COLUMNS


def short_time(ts: float | None) -> str:
    """Month-day and minutes (`12-01 09:38`), for narrow tables."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts).strftime("%m-%d %H:%M")


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout, every string in it redacted."""
    from opscopilot.redact import redact_value

    click.echo(json.dumps(redact_value(document), ensure_ascii=False, indent=2))


def session_money(cost_usd: float, unpriced_turns: int) -> str:
    """A session's cost: unknown when its only spending turns had no known price."""
    return money_total(cost_usd, unpriced_turns)
