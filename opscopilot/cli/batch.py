"""`opscopilot batch TICKETS.jsonl`: incident tickets worked through unattended, restartable,
by one worker or several (`--run NAME` on any hosts sharing a store); `opscopilot batch
report NAME` writes a run's report from the store."""

from __future__ import annotations

import sys
from pathlib import Path

import click

APPROVE_MODES = ("ask", "read-only", "all", "none")


class _BatchCommand(click.Command):
    """`batch TICKETS.jsonl …`, and `batch report NAME` (a tickets file named `report`:
    `batch ./report`)."""

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[no-untyped-def]
        if args and args[0] == "report":
            return batch_report.make_context("batch report", args[1:], parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> object:
        if ctx.command is not self:
            return ctx.command.invoke(ctx)
        return super().invoke(ctx)


@click.command(cls=_BatchCommand)
@click.argument("tickets", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option(
    "--sample",
    is_flag=True,
    help="Work the bundled 120 sample tickets instead of a file (report in the data folder).",
)
@click.option(
    "-o",
    "--output",
    "report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report (JSONL); a readable summary goes beside it as .md. Default: TICKETS.report.jsonl",
)
@click.option("--model", help="Model spec (default: config or builtin:ops).")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--max-cost", type=click.FloatRange(min=0), help="Cap for the whole run, USD.")
@click.option("--max-cost-per-ticket", type=click.FloatRange(min=0), help="Cap per ticket, USD.")
@click.option(
    "--approve",
    type=click.Choice(APPROVE_MODES),
    default="read-only",
    show_default=True,
    help="What runs without a person. read-only: diagnostics run, changes are denied.",
)
@click.option(
    "--wait",
    is_flag=True,
    help="With --approve ask|none: stay up while tickets wait for approval and continue "
    "each as soon as its approvals are decided (from any terminal).",
)
@click.option(
    "--run",
    "run_name",
    metavar="NAME",
    help="Work the run NAME together with every other `batch --run NAME` on this store "
    "(other hosts too, on a team store): each ticket is worked once, by one of them.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
def batch(
    tickets: Path | None,
    sample: bool,
    report: Path | None,
    model: str | None,
    concurrency: int,
    max_cost: float | None,
    max_cost_per_ticket: float | None,
    approve: str,
    wait: bool,
    run_name: str | None,
    quiet: bool,
) -> None:
    """Work through incident tickets (JSONL: id, title, body, optional severity, service,
    attachments). Killed and started again with the same command, it continues where it
    stopped: finished tickets are not redone and no tool runs twice. Tickets paused for an
    approval continue once it is decided (run the same command again, or use --wait).

    With --run NAME, workers started on several hosts (one store URL) share the run; each
    stays until no ticket is open and writes the whole report. `opscopilot batch report
    NAME [-o FILE]` writes a run's report from the store at any time.

    Exit code: 0 all handled, 1 a ticket failed, 3 a ticket waits for approval, 4 the
    budget stopped work.
    """
    import anyio

    from opscopilot import config
    from opscopilot.batch.runner import BatchOptions, BatchRunner, Progress
    from opscopilot.batch.state import RunMismatch
    from opscopilot.batch.tickets import TicketError
    from opscopilot.money import money, money_total
    from opscopilot.store import StoreError

    if sample == (tickets is not None):
        raise click.UsageError("give TICKETS.jsonl or --sample (one of them)")
    if tickets is None:
        from opscopilot.cli.paths import sample_tickets_path

        tickets = sample_tickets_path()
        report = report or config.data_dir() / "batch" / "sample.report.jsonl"
        report.parent.mkdir(parents=True, exist_ok=True)
    report = report or tickets.with_suffix(".report.jsonl")
    options = BatchOptions(
        model=model or config.default_model(),
        approve=approve,
        concurrency=concurrency,
        max_cost=max_cost,
        max_cost_per_ticket=max_cost_per_ticket,
    )

    def progress(p: Progress) -> None:
        if not quiet:
            click.echo(
                f"[{p.done}/{p.total}] {p.ticket_id} {p.status} {money(p.cost_usd, digits=6)} "
                f"(run {money_total(p.run_cost_usd, p.run_unpriced)})"
                + (" after a decision" if p.continued else ""),
                err=True,
            )

    def waiting(ticket_ids: list[str]) -> None:
        click.echo(
            f"waiting for approval: {', '.join(ticket_ids)} (decide with `opscopilot approvals`; "
            "Ctrl-C stops waiting, the same command continues later)",
            err=True,
        )

    try:
        runner = BatchRunner(
            tickets,
            report,
            options,
            on_progress=progress,
            wait=wait,
            on_wait=waiting,
            run_name=run_name,
            lease_s=_lease_s(),
        )
    except (TicketError, config.ConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        result = anyio.run(runner.run)
    except RunMismatch as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (StoreError, config.ConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    summary = report.with_suffix(".md")
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items()))
    click.echo(
        f"{result.tickets} tickets · {counts} · {money_total(result.cost_usd, result.unpriced)} · "
        f"report {report} · "
        f"summary {summary}"
    )
    if run_name is not None and result.completed_here:
        click.echo(f"run {run_name}: completed here (this worker settled its last ticket)")
    if result.continued:
        click.echo(f"continued after a decision: {', '.join(result.continued)}")
    if result.waiting:
        click.echo(f"waiting for approval: {', '.join(result.waiting)}")
    sys.exit(result.exit_code)


def _lease_s() -> float:
    """`[batch] lease_s`: how long a silent worker keeps its tickets before others take them."""
    from opscopilot import config
    from opscopilot.batch.state import LEASE_S

    value = config.section("batch").get("lease_s", LEASE_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise config.ConfigError(
            f"{config.config_path()}: [batch] lease_s must be a positive number"
        )
    return float(value)


@click.command()
@click.argument("name")
@click.option(
    "-o",
    "--output",
    "report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report (JSONL, with a .md summary beside it). Default: the run's own report path.",
)
def batch_report(name: str, report: Path | None) -> None:
    """Write the report of run NAME (a `--run` name, or a run id b-…) from the store, whichever
    workers worked it: one line per ticket settled so far, in ticket order."""
    from opscopilot.batch.report import write_run_report
    from opscopilot.money import money_total
    from opscopilot.store import StoreError

    try:
        written = write_run_report(name, report)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2 if exc.kind == "not_found" else 1)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(written.counts.items()))
    still = f" · {written.open} still open" if written.open else ""
    click.echo(
        f"{written.tickets} tickets · {counts or 'none settled'} · "
        f"{money_total(written.cost_usd, written.unpriced)}{still} · "
        f"report {written.path} · summary {written.path.with_suffix('.md')}"
    )
