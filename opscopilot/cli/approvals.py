"""`opscopilot approvals list|show|approve|deny`: decide paused tool calls from any terminal.

A decision is one atomic write to the database, so it is safe while a TUI or another
terminal looks at (or decides) the same approval; `opscopilot resume TURN_ID` continues.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

import click

from opscopilot.cli.store_common import compact_json, fail, local_time, open_store, print_json

if TYPE_CHECKING:
    from opscopilot.store import ApprovalRecord, Store, TurnOwner


def _operator_name() -> str:
    name = os.environ.get("USER")
    if name:
        return name
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _host_name() -> str:
    import socket

    return socket.gethostname()


def _parse_edited_arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--args is not valid JSON ({exc.msg} at column {exc.colno})", 2)
    if not isinstance(value, dict):
        fail("--args must be a JSON object of the tool's arguments", 2)
    return value


def _validate_for_tool(tool: str, arguments: dict[str, Any]) -> None:
    """Check edited arguments against the tool's own schema, when the tools layer is built."""
    from opscopilot import config, tools

    registry_class = getattr(tools, "ToolRegistry", None)
    if registry_class is None:
        return
    tool_error = getattr(tools, "ToolError", Exception)
    try:
        registry_class.default(config.config()).get(tool).validate(arguments)
    except config.ConfigError as exc:
        fail(str(exc), 2)
    except tool_error as exc:
        fail(f"--args: {exc}", 2)


def _document(record: ApprovalRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _get(store: Store, approval_id: str) -> ApprovalRecord:
    record = store.get_approval(approval_id)
    if record is None:
        fail(f"no approval {approval_id}")
    return record.as_of(time.time())


def _what_next(owner: TurnOwner | None, turn_id: str) -> str:
    """Who continues the turn now: its live owner (a TUI, `run --wait`, batch) or `resume`."""
    if owner is not None:
        return f"{owner.kind} (pid {owner.pid} on {owner.hostname}) continues turn {turn_id} now"
    return f"continue the turn with: opscopilot resume {turn_id}"


@click.group()
def approvals() -> None:
    """List, inspect and decide approvals of paused tool calls."""


LIST_LIMIT = 50  # rows the table shows unless --limit says otherwise


@approvals.command("list")
@click.option("--all", "every_status", is_flag=True, help="Every status, not only pending.")
@click.option("--session", "session_id", default=None, help="Only this session's.")
@click.option("--turn", "turn_id", default=None, help="Only this turn's.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help=f"At most N, oldest first (0: all). Default: {LIST_LIMIT} in the table, all with --json.",
)
@click.option("--after", "after_id", default=None, help="Start after this approval id (paging).")
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
def list_approvals(
    every_status: bool,
    session_id: str | None,
    turn_id: str | None,
    limit: int | None,
    after_id: str | None,
    as_json: bool,
) -> None:
    """Pending approvals, oldest first (ones past their deadline are reported as expired).

    The table shows the oldest 50 and says how many more there are; page on with --after.
    """
    from opscopilot.store import StoreError

    if limit is None:
        limit = 0 if as_json else LIST_LIMIT
    filters = {
        "status": None if every_status else "pending",
        "session_id": session_id,
        "turn_id": turn_id,
        "now": time.time(),
    }
    store = open_store()
    try:
        if after_id is not None and store.get_approval(after_id) is None:
            fail(f"no approval {after_id}", 2)
        records = store.list_approvals(**filters, limit=limit or None, after=after_id)  # type: ignore[arg-type]
        more = 0
        if limit and len(records) == limit:
            more = store.count_approvals(**filters, after=after_id) - limit  # type: ignore[arg-type]
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        print_json([_document(record) for record in records])
        return
    if not records:
        click.echo("no approvals" if every_status else "no pending approvals")
        return
    _print_table(records, more)


def _print_table(records: list[Any], more: int = 0) -> None:
    """One row per approval; at 80 columns the turn column goes (the id names it) and
    arguments wrap, never truncated: what would run is shown whole."""
    from rich.table import Table

    from opscopilot.cli.store_common import short_time, table_console

    console, narrow = table_console()
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("tool", no_wrap=True)
    table.add_column("arguments", ratio=1, min_width=16, overflow="fold")
    for name in ("risk", "status", "requested") + (() if narrow else ("turn",)):
        table.add_column(name, no_wrap=True, min_width=11 if name == "requested" else None)
    when = short_time if narrow else local_time
    for record in records:
        cells = [
            record.id,
            record.tool,
            compact_json(record.effective_arguments),
            record.risk,
            record.status,
            when(record.requested_at),
        ]
        table.add_row(*cells, *(() if narrow else (record.turn_id,)))
    console.print(table, markup=False, highlight=False)
    if more > 0:
        click.echo(
            f"… {more} more (oldest first): opscopilot approvals list --after {records[-1].id}"
        )


@approvals.command("show")
@click.argument("approval_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def show_approval(approval_id: str, as_json: bool) -> None:
    """One approval: the call, why it needs a person, and the decision with who made it."""
    from opscopilot.store import StoreError

    store = open_store()
    try:
        record = _get(store, approval_id)
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        print_json(_document(record))
        return
    rows = [
        ("approval", record.id),
        ("status", record.status),
        ("tool", record.tool),
        ("arguments", compact_json(record.arguments)),
        ("risk", f"{record.risk} — {record.reason}" if record.reason else record.risk),
        ("session / turn", f"{record.session_id} / {record.turn_id}"),
        ("requested", local_time(record.requested_at)),
        ("expires", local_time(record.expires_at)),
    ]
    if record.status != "pending":
        who = record.operator or "—"
        where = f"{who}@{record.host or '?'}" + (f" via {record.channel}" if record.channel else "")
        rows += [("decided", f"{local_time(record.decided_at)} by {where}")]
        if record.decision_reason:
            rows.append(("reason", record.decision_reason))
        if record.edited_arguments is not None:
            rows.append(("edited arguments", compact_json(record.edited_arguments)))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"{label:<{width}}  {value}")


def _decide(
    approval_id: str,
    *,
    decision: str,
    operator: str | None,
    reason: str,
    edited: dict[str, Any] | None,
    as_json: bool,
    always: bool = False,
) -> None:
    from opscopilot.store import StoreError
    from opscopilot.store.approvals import when

    store = open_store()
    try:
        record = store.get_approval(approval_id)
        if record is None:
            fail(f"no approval {approval_id}")
        if record.status != "pending":
            fail(f"approval {approval_id} is already {record.status}")
        now = time.time()
        if edited is not None and not record.expired_at(now):
            _validate_for_tool(record.tool, edited)
        decided = store.decide_approval(
            approval_id,
            decision=decision,  # type: ignore[arg-type]
            operator=operator or _operator_name(),
            host=_host_name(),
            reason=reason,
            arguments=edited,
            decided_at=now,
            channel="cli",
        )
        rule_id = None
        if always and decided.status == "approved":
            arguments = decided.edited_arguments or decided.arguments
            command = arguments.get("command") if decided.tool == "run_command" else None
            rule_id = store.add_allow_rule(
                decided.session_id, tool=decided.tool, command=command, created_at=now
            )
        owner = store.live_owner(decided.turn_id, now=time.time())
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        document = _document(decided)
        if always:
            document["allow_rule_id"] = rule_id
        print_json(document)
    if decided.status == "expired":
        deadline = when(decided.expires_at) if decided.expires_at else "its deadline"
        fail(f"approval {approval_id} expired at {deadline}; recorded as expired, not {decision}")
    if as_json:
        return
    edited_note = f" with {compact_json(decided.edited_arguments)}" if edited is not None else ""
    click.echo(
        f"{decided.status} {approval_id}: {decided.tool}{edited_note} "
        f"(by {decided.operator}@{decided.host})"
    )
    if rule_id is not None:
        what = f"`{command}`" if command else f"every {decided.tool} call"
        click.echo(
            f"always allowed in session {decided.session_id}: {what} "
            f"(rule {rule_id}; revoke with: opscopilot approvals revoke {rule_id})"
        )
    click.echo(_what_next(owner, decided.turn_id))


@approvals.command("approve")
@click.argument("approval_id")
@click.option(
    "--args",
    "edited_json",
    default=None,
    metavar="JSON",
    help="Run with these arguments instead (a JSON object, checked against the tool).",
)
@click.option("--operator", default=None, help="Who decides (default: $USER).")
@click.option("--reason", default="", help="Why, for the audit trail.")
@click.option(
    "--always",
    is_flag=True,
    help="Also allow this exact command (run_command) or this tool for the rest of the session.",
)
@click.option("--json", "as_json", is_flag=True, help="The decided approval as one JSON object.")
def approve(
    approval_id: str,
    edited_json: str | None,
    operator: str | None,
    reason: str,
    always: bool,
    as_json: bool,
) -> None:
    """Let a paused tool call run (optionally with edited arguments)."""
    edited = None if edited_json is None else _parse_edited_arguments(edited_json)
    _decide(
        approval_id,
        decision="approved",
        operator=operator,
        reason=reason,
        edited=edited,
        as_json=as_json,
        always=always,
    )


@approvals.command("rules")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
def rules(session_id: str, as_json: bool) -> None:
    """The always-allow rules in force for a session."""
    from opscopilot.store import StoreError

    store = open_store()
    try:
        found = store.list_allow_rules(session_id)
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        print_json([rule.model_dump(mode="json") for rule in found])
        return
    if not found:
        click.echo(f"no always-allow rules in session {session_id}")
    for rule in found:
        what = f"`{rule.command}`" if rule.command else f"every {rule.tool} call"
        click.echo(f"rule {rule.id}: {what} (since {local_time(rule.created_at)})")


@approvals.command("revoke")
@click.argument("rule_id", type=int)
def revoke(rule_id: int) -> None:
    """Stop always allowing what a rule allowed (later calls ask again)."""
    from opscopilot.store import StoreError

    store = open_store()
    try:
        store.revoke_allow_rule(rule_id)
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    click.echo(f"revoked rule {rule_id}")


@approvals.command("deny")
@click.argument("approval_id")
@click.option("--reason", default="", help="Why; the model is told.")
@click.option("--operator", default=None, help="Who decides (default: $USER).")
@click.option("--json", "as_json", is_flag=True, help="The decided approval as one JSON object.")
def deny(approval_id: str, reason: str, operator: str | None, as_json: bool) -> None:
    """Refuse a paused tool call; the turn goes on without it."""
    _decide(
        approval_id,
        decision="denied",
        operator=operator,
        reason=reason,
        edited=None,
        as_json=as_json,
    )
