"""`opscopilot audit export`: the audit trail (decisions, tool runs, spend) as JSONL or CSV."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from opscopilot.cli.store_common import fail, open_store


@click.group()
def audit() -> None:
    """The audit trail: who decided what, from where; tools run and their risk; spend."""


@audit.command("export")
@click.option(
    "--since",
    metavar="T",
    help="Only what happened since T: an ISO date/time (UTC unless it says), epoch seconds, "
    "or an age (30m, 24h, 7d). Default: everything.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout).",
)
def export(since: str | None, fmt: str, output: Path | None) -> None:
    """Write every decision (operator, host, channel), every tool run with its risk, and the
    spend per session, redacted; one record a line (JSONL) or a CSV with a header."""
    from opscopilot.governance import GovernanceError, Ledger
    from opscopilot.store import StoreError
    from opscopilot.store.audit import AuditError, parse_since, records, write

    try:
        start = 0.0 if since is None else parse_since(since)
    except AuditError as exc:
        fail(str(exc), 2)
    store = open_store()
    try:
        ledger = Ledger(store.path)
    except GovernanceError as exc:
        store.close()
        fail(str(exc))
    try:
        rows = records(store, ledger, start)
        if output is None:
            count = write(rows, sys.stdout, fmt)
        else:
            try:
                with output.open("w", encoding="utf-8", newline="") as handle:
                    count = write(rows, handle, fmt)
            except OSError as exc:
                fail(f"cannot write {output}: {exc.strerror}")
    except (StoreError, GovernanceError) as exc:
        fail(str(exc))
    finally:
        ledger.close()
        store.close()
    if output is not None:
        click.echo(f"{count} audit records -> {output}", err=True)
