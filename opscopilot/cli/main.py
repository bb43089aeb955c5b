"""The `opscopilot` entry point: a click group whose commands load only when used.

Importing this module must stay cheap (no Textual, no httpx, no provider code), so that
`--help`, `--version` and the first byte of `prompt` come fast; see benchmarks/.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys

import click

from opscopilot import __version__
from opscopilot.cli.completion import complete_models, complete_sessions, complete_themes

DEBUG_ON = {"1", "true", "yes", "on"}  # OPSCOPILOT_DEBUG values that turn the debug log on

# name -> "module:attribute"; each command lives in its own module under opscopilot/cli/.
COMMANDS: dict[str, tuple[str, str]] = {
    "tui": ("opscopilot.cli.tui_cmd:tui", "Open the terminal UI (the default)."),
    "prompt": ("opscopilot.cli.prompt:prompt", "One model call, streamed to stdout; no tools run."),
    "run": ("opscopilot.cli.run:run", "Run an agent turn with tools under the approval policy."),
    "resume": ("opscopilot.cli.run:resume", "Continue a paused or interrupted turn."),
    "approvals": (
        "opscopilot.cli.approvals:approvals",
        "List, inspect and decide pending approvals.",
    ),
    "sessions": ("opscopilot.cli.sessions:sessions", "List, show and export stored sessions."),
    "replay": ("opscopilot.cli.replay:replay", "Play a recorded session back."),
    "batch": ("opscopilot.cli.batch:batch", "Work through a file of incident tickets unattended."),
    "models": ("opscopilot.cli.models:models", "The model catalog: prices, limits, capabilities."),
    "budget": ("opscopilot.cli.budget:budget", "Spend against caps; set the caps."),
    "themes": ("opscopilot.cli.themes:themes", "List the TUI themes."),
    "serve": ("opscopilot.cli.serve:serve", "Serve the approvals web page and JSON API."),
    "store": (
        "opscopilot.cli.store_cmd:store",
        "Look after the store: retention (prune), copy into a team's.",
    ),
    "paths": (
        "opscopilot.cli.paths:paths",
        "Where config, store, themes, recordings and logs live.",
    ),
    "doctor": (
        "opscopilot.cli.doctor:doctor",
        "What works on this host: sandbox, store, keys, MCP servers.",
    ),
    "mcp": ("opscopilot.cli.mcp:mcp", "MCP tool servers: their state, tools and risk."),
    "audit": ("opscopilot.cli.audit:audit", "Export the audit trail: decisions, tool runs, spend."),
}


class LazyGroup(click.Group):
    """Resolves a command's module only when that command runs (or its help is asked for)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target = COMMANDS[cmd_name][0]
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # not built yet: absent, not pretended
            raise
        return getattr(module, attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    @staticmethod
    def _available(name: str) -> bool:
        module_name = COMMANDS[name][0].partition(":")[0]
        return importlib.util.find_spec(module_name) is not None


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "-V", "--version", prog_name="opscopilot")
@click.option(
    "--debug",
    is_flag=True,
    help="Write a redacted debug log to a file (also OPSCOPILOT_DEBUG=1); says where.",
)
@click.option(
    "--model",
    "-m",
    default=None,
    help="With no command: the TUI's model.",
    shell_complete=complete_models,
)
@click.option(
    "--theme",
    "-t",
    default=None,
    help="With no command: the TUI's theme.",
    shell_complete=complete_themes,
)
@click.option(
    "--session",
    "session_id",
    default=None,
    help="With no command: open a session.",
    shell_complete=complete_sessions,
)
@click.pass_context
def cli(
    ctx: click.Context,
    debug: bool,
    model: str | None,
    theme: str | None,
    session_id: str | None,
) -> None:
    """A terminal operations copilot.

    With no command, opens the TUI on the default model (builtin:ops, offline, when no
    key or config says otherwise); `opscopilot --theme opscopilot-light` is the same as
    `opscopilot tui --theme opscopilot-light`.
    """
    if debug or os.environ.get("OPSCOPILOT_DEBUG", "").strip().lower() in DEBUG_ON:
        from opscopilot import debuglog

        path = debuglog.start()
        click.echo(f"debug log: {path}", err=True)
    tui_options = {"model": model, "theme": theme, "session_id": session_id}
    if ctx.invoked_subcommand is None:
        command = cli.get_command(ctx, "tui")
        if command is None:
            raise click.UsageError("the TUI is not available in this build")
        ctx.invoke(command, **{k: v for k, v in tui_options.items() if v is not None})
    elif any(value is not None for value in tui_options.values()):
        given = next(k for k, v in tui_options.items() if v is not None).replace("_id", "")
        raise click.UsageError(
            f"--{given} before a command is for the TUI; put it after the command "
            f"(opscopilot {ctx.invoked_subcommand} --{given} …)"
        )


def main() -> None:
    if not sys.platform.startswith("linux"):
        # pwd, process groups, /proc, /bin/sh and bubblewrap: the tools are Linux's.
        click.echo(
            f"error: opscopilot runs on Linux only (this is {sys.platform}); "
            "see README.md, Supported platforms",
            err=True,
        )
        sys.exit(1)
    # httpcore imports trio at start-up whenever it is installed (~90 ms), only to learn whether
    # it runs under trio; the command line always runs asyncio, so it never needs it.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    try:
        cli.main(prog_name="opscopilot")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        # The net under every command: a bad config.toml or an unusable database is one line.
        from opscopilot.config import ConfigError
        from opscopilot.redact import redact
        from opscopilot.store.db import StoreError

        if isinstance(exc, ConfigError):
            click.echo(f"error: {redact(str(exc))}", err=True)
            sys.exit(2)
        if isinstance(exc, StoreError):
            click.echo(f"error: store: {redact(str(exc))}", err=True)
            sys.exit(1)
        raise
    finally:
        # The command is done and has closed what it opened: the interpreter's last garbage
        # collection over every loaded module's objects (~0.25 s of CPU after a batch worker
        # or a turn) has nothing to free that the process's exit does not.
        gc.freeze()
