"""`opscopilot serve`: the approvals web page + JSON API, and `serve token add|list|revoke`.

The server needs the `serve` extra (Starlette, uvicorn, Jinja2); the token commands don't.
"""

from __future__ import annotations

import click

from opscopilot.cli.store_common import fail, local_time

INSTALL_HINT = "opscopilot serve needs the serve extra: pip install 'opscopilot[serve]'"


@click.group(invoke_without_command=True)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8765).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the approvals page and JSON API (every request needs an operator token)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        fail(INSTALL_HINT, 2)
    from opscopilot import redact
    from opscopilot.web.app import create_app
    from opscopilot.web.operators import Operators
    from opscopilot.web.settings import ServeSettings

    redact.register_environment_secrets()
    settings = ServeSettings.from_config()
    host = host or settings.host
    port = port if port is not None else settings.port
    operators = Operators.open()
    try:
        active = [operator for operator in operators.list() if operator.active]
    finally:
        operators.close()
    if not active:
        click.echo(
            "note: no operator has a token yet; add one with: opscopilot serve token add NAME",
            err=True,
        )
    public_url = settings.public_url(host, port)
    click.echo(f"serving approvals on http://{host}:{port} (links point to {public_url})")
    uvicorn.run(
        create_app(public_url=public_url),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # URLs of signed links carry their signature: never logged
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        timeout_graceful_shutdown=2,
    )


@serve.group()
def token() -> None:
    """Operator tokens: add (prints the token once), list, revoke."""


def _operators():
    from opscopilot.web.operators import Operators

    return Operators.open()


@token.command("add")
@click.argument("name")
def add(name: str) -> None:
    """Make a token for operator NAME; it is printed once, alone on the last line."""
    from opscopilot.web.operators import OperatorError

    operators = _operators()
    try:
        secret = operators.add(name)
    except OperatorError as exc:
        fail(str(exc), 2)
    finally:
        operators.close()
    click.echo(f"token for {name} (only its hash is kept; it is not shown again):", err=True)
    click.echo(secret)


@token.command("list")
def list_tokens() -> None:
    """Operators and whether their token is in force."""
    operators = _operators()
    try:
        found = operators.list()
    finally:
        operators.close()
    if not found:
        click.echo("no operator tokens")
        return
    for operator in found:
        state = "active" if operator.active else f"revoked {local_time(operator.revoked_at)}"
        click.echo(f"{operator.name}  since {local_time(operator.created_at)}  {state}")


@token.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke NAME's token: it stops working at once, on a running server too."""
    from opscopilot.web.operators import OperatorError

    operators = _operators()
    try:
        operators.revoke(name)
    except OperatorError as exc:
        fail(str(exc))
    finally:
        operators.close()
    click.echo(f"revoked the token of {name}")
