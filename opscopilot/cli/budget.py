"""`opscopilot budget show|set`: spend against the caps, from the ledger; set or clear caps.

`show` reads the same ledger the stream guard writes, so its figures are the ones the caps
are enforced against. `set` stores caps in the database (they apply to every process);
flags and environment variables still win over them, config.toml `[budget]` loses.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from opscopilot.governance import Caps, Ledger
    from opscopilot.governance.ledger import SpendGroup

EXIT_USAGE = 2
SCOPE_FLAGS = {"call": "per_call", "turn": "per_turn", "session": "per_session", "day": "per_day"}


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    from opscopilot import redact

    click.echo(redact.redact(f"error: {message}"), err=True)
    sys.exit(code)


def _open() -> tuple[Ledger, Caps]:
    from opscopilot.governance import GovernanceError, Ledger, load_caps

    try:
        ledger = Ledger()
    except GovernanceError as exc:
        _fail(exc.message, 1)
    try:
        return ledger, load_caps(ledger=ledger)
    except GovernanceError as exc:
        ledger.close()
        _fail(exc.message)
    raise AssertionError("unreachable")


@click.group()
def budget() -> None:
    """Spend against caps (from the ledger); set the caps."""


def _caps_json(caps: Caps) -> dict[str, Any]:
    return {
        scope: {"cap_usd": caps.cap(scope), "source": caps.sources.get(scope)}  # type: ignore[arg-type]
        for scope in SCOPE_FLAGS
    }


def _against(spent: float, cap: float | None) -> dict[str, Any]:
    return {
        "spent_usd": round(spent, 9),
        "cap_usd": cap,
        "remaining_usd": None if cap is None else round(max(cap - spent, 0.0), 9),
        "fraction": None if not cap else round(spent / cap, 4),
    }


def _known(group: SpendGroup) -> float | None:
    """The group's priced spend, or None when no call of it had a known price."""
    return None if group.unpriced_calls == group.calls else round(group.cost_usd, 9)


def _session_row(ledger: Ledger, caps: Caps, group: SpendGroup) -> dict[str, Any]:
    """A session's spend today and in all (the per-session cap counts all of it)."""
    if not group.key:  # calls made outside a session (`opscopilot prompt`)
        return {
            "session_id": None,
            "calls": group.calls,
            "unpriced_calls": group.unpriced_calls,
            "today_usd": _known(group),
            **_against(group.cost_usd, None),
        }
    return {
        "session_id": group.key,
        "calls": group.calls,
        "unpriced_calls": group.unpriced_calls,
        "today_usd": _known(group),
        **_against(ledger.spent("session", group.key), caps.per_session),
    }


def show_report(
    ledger: Ledger, caps: Caps, *, day: str, session_id: str | None, limit: int
) -> dict[str, Any]:
    """The `budget show --json` object."""
    spent_day = ledger.spent("day", day)
    sessions = ledger.totals_by("session", day=day, limit=limit)
    models = ledger.totals_by("model", day=day, limit=limit)
    today = ledger.totals_by("day", day=day, limit=1)
    report: dict[str, Any] = {
        "day": day,
        "spent_today_usd": round(spent_day, 9),
        "unpriced_calls_today": today[0].unpriced_calls if today else 0,
        "caps": _caps_json(caps),
        "warn_fraction": caps.warn_fraction,
        "day_cap": _against(spent_day, caps.per_day),
        "top_sessions": [_session_row(ledger, caps, g) for g in sessions],
        "top_models": [
            {
                "model": g.key,
                "cost_usd": _known(g),
                "calls": g.calls,
                "unpriced_calls": g.unpriced_calls,
                "input_tokens": g.input_tokens,
                "output_tokens": g.output_tokens,
            }
            for g in models
        ],
        "session": None,
    }
    if session_id is not None:
        report["session"] = {
            "session_id": session_id,
            **_against(ledger.spent("session", session_id), caps.per_session),
        }
    return report


def _money(value: float | None) -> str:
    from opscopilot.governance.estimate import usd

    return "none" if value is None else usd(value)


def _cost(value: float | None, unpriced_calls: int = 0) -> str:
    """A spend as the operator should read it: unknown when no price was known, never $0."""
    from opscopilot.governance.estimate import usd

    if value is None:
        return "unknown"
    if unpriced_calls:
        return f"{usd(value)} + unknown"
    return usd(value)


def _print_report(report: dict[str, Any]) -> None:
    day_cap = report["day_cap"]
    line = f"today ({report['day']} UTC): {_money(report['spent_today_usd'])}"
    if report["unpriced_calls_today"]:
        line += f" + {report['unpriced_calls_today']} calls of unknown cost (no price known)"
    if day_cap["cap_usd"] is not None:
        line += (
            f" of {_money(day_cap['cap_usd'])} per-day cap "
            f"({day_cap['fraction'] * 100:.0f}%, {_money(day_cap['remaining_usd'])} left)"
        )
    click.echo(line)
    click.echo(f"caps (warn at {report['warn_fraction'] * 100:.0f}%):")
    for scope, cap in report["caps"].items():
        source = f"  [{cap['source']}]" if cap["source"] else ""
        click.echo(f"  per-{scope:<8} {_money(cap['cap_usd'])}{source}")
    if report["session"] is not None:
        session = report["session"]
        click.echo(
            f"session {session['session_id']}: {_money(session['spent_usd'])}"
            + (f" of {_money(session['cap_usd'])}" if session["cap_usd"] else "")
        )
    if report["top_sessions"]:
        click.echo("top sessions today:")
        for row in report["top_sessions"]:
            name = row["session_id"] or "(no session: prompt)"
            spend = _cost(row["today_usd"], row["unpriced_calls"])
            click.echo(f"  {name:<28} {spend:>12}  {row['calls']} calls")
    if report["top_models"]:
        click.echo("top models today:")
        for row in report["top_models"]:
            click.echo(
                f"  {row['model']:<28} {_cost(row['cost_usd'], row['unpriced_calls']):>12}  "
                f"{row['calls']} calls, "
                f"{row['input_tokens']} in / {row['output_tokens']} out tokens"
            )


@budget.command("show")
@click.option("--session", "session_id", default=None, help="Also show this session's spend.")
@click.option("--day", default=None, help="A UTC day YYYY-MM-DD instead of today.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="How many top sessions and models to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show(session_id: str | None, day: str | None, limit: int, as_json: bool) -> None:
    """Today's spend against each cap, top sessions and models."""
    import re

    from opscopilot.governance import GovernanceError, utc_day

    if day is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        raise click.UsageError(f"--day {day!r} is not YYYY-MM-DD")
    ledger, caps = _open()
    try:
        report = show_report(
            ledger, caps, day=day or utc_day(time.time()), session_id=session_id, limit=limit
        )
    except GovernanceError as exc:
        _fail(exc.message, 1)
    finally:
        ledger.close()
    if as_json:
        click.echo(json.dumps(report))
    else:
        _print_report(report)


@budget.command("set")
@click.option("--per-call", default=None, metavar="USD", help="Cap for one model call.")
@click.option("--per-turn", default=None, metavar="USD", help="Cap for one agent turn.")
@click.option("--per-session", default=None, metavar="USD", help="Cap for one session.")
@click.option("--per-day", default=None, metavar="USD", help="Cap for one UTC day, all sessions.")
@click.option(
    "--warn-fraction",
    default=None,
    metavar="F",
    help="Warn at this fraction of a cap (0-1, default 0.8).",
)
@click.option("--clear", is_flag=True, help="Remove every stored cap first.")
@click.option("--json", "as_json", is_flag=True, help="Print the caps now in force as JSON.")
def set_caps(
    per_call: str | None,
    per_turn: str | None,
    per_session: str | None,
    per_day: str | None,
    warn_fraction: str | None,
    clear: bool,
    as_json: bool,
) -> None:
    """Store caps in the database ("none" removes one). Flags and env still win over them."""
    from opscopilot.governance import GovernanceError
    from opscopilot.governance.caps import parse_cap, parse_warn_fraction

    given = {"call": per_call, "turn": per_turn, "session": per_session, "day": per_day}
    if not clear and warn_fraction is None and all(v is None for v in given.values()):
        raise click.UsageError(
            "say what to set: --per-call, --per-turn, --per-session, --per-day, "
            "--warn-fraction, or --clear"
        )
    try:
        values = {s: parse_cap(v, f"--per-{s}") for s, v in given.items() if v is not None}
        warn = (
            None if warn_fraction is None else parse_warn_fraction(warn_fraction, "--warn-fraction")
        )
    except GovernanceError as exc:
        raise click.UsageError(exc.message) from None
    ledger, _ = _open()
    try:
        if clear:
            ledger.clear_cap()
        for scope, value in values.items():
            if value is None:
                ledger.clear_cap(scope)
            else:
                ledger.set_cap(scope, value)
        if warn is not None:
            ledger.set_cap("warn", warn)
        from opscopilot.governance import load_caps

        caps = load_caps(ledger=ledger)
    except GovernanceError as exc:
        _fail(exc.message, 1)
    finally:
        ledger.close()
    if as_json:
        click.echo(json.dumps({"caps": _caps_json(caps), "warn_fraction": caps.warn_fraction}))
        return
    for scope in SCOPE_FLAGS:
        source = caps.sources.get(scope)
        click.echo(
            f"per-{scope:<8} {_money(caps.cap(scope))}" + (f"  [{source}]" if source else "")
        )
