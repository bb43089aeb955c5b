"""Shell completion for models, themes and session ids (click's completion).

Enable it once per shell (see README.md): `eval "$(_OPSCOPILOT_COMPLETE=bash_source
opscopilot)"` (zsh: `zsh_source`, fish: `fish_source`). Each function runs only while
completing, so nothing here is on a command's start-up path.
"""

from __future__ import annotations

from typing import Any

import click


def _items(values: list[str], incomplete: str, prefix: str = "") -> list[Any]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(prefix + v) for v in values if v.startswith(incomplete)]


def complete_models(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Catalog model ids; after a comma, the next model of a fallback chain."""
    head, sep, last = incomplete.rpartition(",")
    try:
        from opscopilot.llm import catalog

        ids = [info.id for info in catalog.all_models()]
    except Exception:  # a broken config or catalog must not break the shell
        return []
    return _items(ids, last, head + sep)


def complete_themes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    try:
        from opscopilot.tui import theming

        specs, _errors = theming.load_theme_specs()
    except Exception:
        return []
    return _items(sorted(spec.name for spec in specs), incomplete)


def complete_sessions(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The most recent stored session ids."""
    try:
        from opscopilot.store import Store

        with Store.open() as store:
            ids = [record.id for record in store.list_sessions(limit=200)]
    except Exception:
        return []
    return _items(ids, incomplete)
