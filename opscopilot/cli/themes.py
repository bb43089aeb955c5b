"""`opscopilot themes list`: the TUI's themes, bundled and the operator's own."""

from __future__ import annotations

import json

import click


@click.group("themes")
def themes() -> None:
    """List the TUI themes."""


@themes.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
def list_themes(as_json: bool) -> None:
    """Every usable theme (the remembered choice is marked *); bad files are reported."""
    from opscopilot import config
    from opscopilot.tui import theming

    specs, errors = theming.load_theme_specs()
    current = theming.remembered_theme() or theming.DEFAULT_THEME
    bundled = config.bundled_dir("themes")
    if as_json:
        rows = [
            {
                "name": s.name,
                "dark": s.dark,
                "source": "bundled" if s.source.parent == bundled else str(s.source),
                "current": s.name == current,
            }
            for s in specs
        ]
        click.echo(json.dumps(rows))
    else:
        for spec in specs:
            origin = "bundled" if spec.source.parent == bundled else str(spec.source)
            mark = "*" if spec.name == current else " "
            shade = "dark" if spec.dark else "light"
            click.echo(f"{mark} {spec.name:<28} {shade:<6} {origin}")
        click.echo(f"(user themes folder: {config.user_themes_dir()})")
    for error in errors:
        click.echo(f"skipped: {error}", err=True)
