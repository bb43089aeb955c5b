"""`opscopilot sessions list|show|export`: what is stored, for operators and their scripts."""

from __future__ import annotations

from typing import Any

import click

from opscopilot.cli.completion import complete_sessions
from opscopilot.cli.store_common import (
    compact_json,
    fail,
    local_time,
    open_store,
    print_json,
    session_money,
    short_time,
    table_console,
)
from opscopilot.money import money


@click.group()
def sessions() -> None:
    """List, show and export stored sessions."""


@sessions.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
def list_sessions(limit: int, as_json: bool) -> None:
    """The most recently active sessions first."""
    from opscopilot.store import StoreError

    store = open_store()
    try:
        records = store.list_sessions(limit=limit)
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    if not records:
        click.echo("no sessions yet")
        return
    from rich.table import Table

    console, narrow = table_console()
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("model", no_wrap=True, overflow="ellipsis", max_width=22 if narrow else None)
    table.add_column("title", ratio=1, min_width=12)  # wraps between words
    table.add_column("turns", no_wrap=True, justify="right")
    table.add_column("cost", no_wrap=True, justify="right")
    table.add_column("last active", no_wrap=True)
    when = short_time if narrow else local_time
    for record in records:
        table.add_row(
            record.id,
            record.model,
            record.title,
            str(record.turn_count),
            session_money(record.cost_usd, record.unpriced_turns),
            when(record.updated_at),
        )
    console.print(table, markup=False, highlight=False)


@sessions.command("show")
@click.argument("session_id", shell_complete=complete_sessions)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def show_session(session_id: str, as_json: bool) -> None:
    """A session's turns (status, cost) and its conversation."""
    from opscopilot.store import StoreError

    store = open_store()
    try:
        record = store.get_session(session_id)
        if record is None:
            fail(f"no session {session_id}")
        turns = store.list_turns(session_id)
        messages = store.messages(session_id)
        pending = store.list_approvals(session_id=session_id)
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        document: dict[str, Any] = record.model_dump(mode="json")
        document["turns"] = [turn.model_dump(mode="json") for turn in turns]
        document["messages"] = [message.model_dump(mode="json") for message in messages]
        document["pending_approvals"] = [approval.id for approval in pending]
        print_json(document)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from opscopilot.redact import redact

    console = Console()
    console.print(
        f"[bold]{escape(record.id)}[/]  {escape(record.model)}  {escape(redact(record.title))}\n"
        f"created {local_time(record.created_at)} · last active {local_time(record.updated_at)}"
        f" · {record.turn_count} turns · "
        f"{session_money(record.cost_usd, record.unpriced_turns)}",
        highlight=False,
    )
    if turns:
        table = Table(box=None, pad_edge=False, title="turns", title_justify="left")
        for name in ("turn", "status", "cost", "tokens in/out", "prompt"):
            table.add_column(name, no_wrap=name == "turn", overflow="fold")
        for turn in turns:
            tokens = f"{turn.usage.input_tokens}/{turn.usage.output_tokens}"
            status = turn.status
            if turn.error:
                status += f" ({turn.error.get('kind') or 'error'})"
            spent = turn.usage.input_tokens + turn.usage.output_tokens > 0
            cost = money(turn.cost_usd, spent_tokens=spent)
            table.add_row(turn.id, status, cost, tokens, redact(turn.prompt))
        console.print(table, markup=False, highlight=False)
    for message in messages:
        console.print(f"[bold]{message.role}[/]: ", end="", highlight=False)
        console.print(redact(_message_line(message)), markup=False, highlight=False)
    if pending:
        console.print(
            f"pending approvals: {', '.join(a.id for a in pending)}", markup=False, highlight=False
        )


@sessions.command("export")
@click.argument("session_id", shell_complete=complete_sessions)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Where to write the recording (default: the recordings folder, <session>.jsonl).",
)
@click.option("--label", default="", help="A label stored in the recording's header.")
def export_session(session_id: str, output: str | None, label: str) -> None:
    """Write a session's events as a recording (format v1, secrets redacted)."""
    from pathlib import Path

    from opscopilot import config
    from opscopilot.replay.recording import (
        RecordingError,
        RecordingHeader,
        iso_utc,
        write_recording,
    )
    from opscopilot.store import StoreError

    store = open_store()
    try:
        record = store.get_session(session_id)
        if record is None:
            fail(f"no session {session_id}")
        models = sorted({turn.model for turn in store.list_turns(session_id)} or {record.model})
        events = [event for _seq, event in store.events(session_id=session_id)]
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    path = Path(output) if output else config.recordings_dir() / f"{session_id}.jsonl"
    header = RecordingHeader(
        models=models,
        session_id=session_id,
        title=record.title,
        label=label,
        created=iso_utc(record.created_at),
    )
    try:
        count = write_recording(path, header, events)
    except RecordingError as exc:
        fail(str(exc))
    click.echo(f"wrote {count} events to {path}")


def _message_line(message: Any) -> str:
    """A message as one readable block: its text, tool calls and tool results."""
    pieces: list[str] = []
    for part in message.parts:
        if part.type == "text":
            pieces.append(part.text)
        elif part.type == "tool_call":
            pieces.append(f"→ {part.name} {compact_json(part.arguments)}")
        elif part.type == "tool_result":
            label = "error" if part.is_error else "result"
            pieces.append(f"← {label}: {part.content}")
    return "\n".join(pieces)
