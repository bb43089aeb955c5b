"""`opscopilot store copy FROM TO`: a single host's store moved into the team's, every row
(a subcommand of cli/store_cmd.py's `store` group)."""

from __future__ import annotations

import click

from opscopilot.cli.store_common import fail, print_json


@click.command("copy")
@click.argument("source", metavar="FROM_URL")
@click.argument("destination", metavar="TO_URL")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def copy(source: str, destination: str, as_json: bool) -> None:
    """Copy every row of the store at FROM_URL (e.g. sqlite:////home/me/.local/share/
    opscopilot/opscopilot.db) into the empty store at TO_URL (e.g. postgresql://ops@db/ops),
    in one transaction, then count every table on both sides. Exit 1 when a count differs
    or the destination is not empty (nothing is merged)."""
    from opscopilot.store import StoreError
    from opscopilot.store.copy import copy_store
    from opscopilot.store.location import LocationError, parse

    try:
        src, dst = parse(source), parse(destination)
    except LocationError as exc:
        fail(str(exc), 2)
    try:
        counts = copy_store(src, dst)
    except StoreError as exc:
        fail(str(exc))
    equal = all(count.equal for count in counts)
    if as_json:
        print_json(
            {
                "source": src.display(),
                "destination": dst.display(),
                "tables": {
                    c.table: {"source": c.source, "destination": c.destination} for c in counts
                },
                "equal": equal,
            }
        )
    else:
        width = max(len(c.table) for c in counts)
        for c in counts:
            mark = "" if c.equal else "  MISMATCH"
            click.echo(f"{c.table:<{width}}  {c.source:>8} -> {c.destination:>8}{mark}")
        total = sum(c.destination for c in counts)
        click.echo(f"copied {total} rows of {len(counts)} tables to {dst.display()}")
    if not equal:
        fail("the row counts differ; the destination is not a complete copy")
