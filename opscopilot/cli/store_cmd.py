"""`opscopilot store prune`: retention for the one database (see docs/store.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from opscopilot.cli import store_copy
from opscopilot.cli.store_common import fail, open_store, print_json


@click.group()
def store() -> None:
    """Look after the store: retention; copying a single host's store into a team's."""


store.add_command(store_copy.copy)


def _cutoff(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--before {text!r} is not a date (YYYY-MM-DD or an ISO 8601 time)", 2)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@store.command("prune")
@click.option(
    "--before",
    "before_text",
    metavar="DATE",
    help="Prune turns finished before DATE (YYYY-MM-DD or ISO time, UTC unless it says). "
    "Default: now minus [store] keep_days.",
)
@click.option("--vacuum", is_flag=True, help="Then give the freed space back to the disk.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def prune(before_text: str | None, vacuum: bool, as_json: bool) -> None:
    """Remove the event streams, snapshots and journal rows of turns finished before a date.

    Kept: sessions, turns (prompt, answer, status, cost), messages, approvals and their
    decisions (the audit trail) and the spend ledger. A turn that may still move (paused,
    running, interrupted) is never pruned.
    """
    from opscopilot import config
    from opscopilot.store import StoreError
    from opscopilot.store.retention import DAY_S, keep_days

    if before_text is not None:
        before = _cutoff(before_text)
    else:
        try:
            days = keep_days()
        except config.ConfigError as exc:
            fail(str(exc), 2)
        if days is None:
            fail("give --before DATE, or set [store] keep_days in config.toml", 2)
        before = time.time() - days * DAY_S
    database = open_store()
    try:
        result = database.prune(before, vacuum=vacuum)
    except StoreError as exc:
        fail(str(exc))
    finally:
        database.close()
    if as_json:
        print_json(result.to_json())
        return
    when = datetime.fromtimestamp(before, UTC).strftime("%Y-%m-%d %H:%M UTC")
    click.echo(
        f"pruned {result.turns} turns finished before {when}: {result.events} events, "
        f"{result.snapshots} snapshots, {result.journal} journal rows, "
        f"{result.changes} change-feed rows" + (" · vacuumed" if result.vacuumed else "")
    )
    if result.kept_live:
        click.echo(f"kept {result.kept_live} older turns that have not finished (resume them)")
