"""`opscopilot paths`: where everything this install reads and writes lives."""

from __future__ import annotations

import json
import os

import click


def known_paths() -> dict[str, str]:
    """Name -> location, in the order an operator looks for them."""
    from opscopilot import config, debuglog

    store = os.environ.get("OPSCOPILOT_STORE") or str(config.db_path())
    return {
        "config": str(config.config_path()),
        "store": store,
        "themes": str(config.user_themes_dir()),
        "bundled_themes": str(config.bundled_dir("themes")),
        "recordings": str(config.recordings_dir()),
        "bundled_recordings": str(config.bundled_dir("recordings")),
        "sample_tickets": str(sample_tickets_path()),
        "models_synced": str(config.data_dir() / "models.json"),
        "debug_logs": str(debuglog.logs_dir()),
    }


def sample_tickets_path():  # -> Path
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "batch" / "sample" / "tickets.jsonl"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def paths(as_json: bool) -> None:
    """Where config, store, themes, recordings, sample tickets and debug logs live.

    OPSCOPILOT_HOME, when set, holds everything; otherwise the platform's user config and
    data folders. Bundled themes and recordings ship inside the package.
    """
    found = known_paths()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    width = max(len(name) for name in found)
    for name, where in found.items():
        click.echo(f"{name.replace('_', ' '):<{width}}  {where}")
