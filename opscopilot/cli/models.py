"""`opscopilot models list|show|sync`: the model catalog on the command line.

rich and httpx load inside the commands, so `opscopilot --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, NoReturn

import click

from opscopilot.cli.completion import complete_models
from opscopilot.config import ConfigError
from opscopilot.llm import catalog
from opscopilot.llm.catalog import CatalogError, ModelInfo
from opscopilot.llm.types import LLMError, ModelSpec

if TYPE_CHECKING:
    from rich.console import Console


def _fail(message: str, *, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _console() -> Console:
    from rich.console import Console

    # Piped output gets a wide, stable layout instead of rich's 80-column default.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def _tokens(count: int | None) -> str:
    if count is None:
        return "?"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.3g}M"
    if count >= 1_000:
        return f"{count / 1_000:.0f}K"
    return str(count)


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _capabilities(info: ModelInfo) -> str:
    caps = info.capabilities
    names = [
        n
        for n, on in (("tools", caps.tools), ("reasoning", caps.reasoning), ("vision", caps.vision))
        if on
    ]
    return ",".join(names) or "-"


def _markers(info: ModelInfo) -> str:
    marks = []
    if info.simulated:
        marks.append("simulated")
    if info.local:
        marks.append("local")
    if info.price is not None and info.price.tiers:
        marks.append("tiered >" + "/".join(_tokens(t.above_input_tokens) for t in info.price.tiers))
    if info.deprecation_date:
        from datetime import date

        past = info.deprecation_date <= date.today().isoformat()
        marks.append(f"{'retired' if past else 'retires'} {info.deprecation_date}")
    if info.origin != "bundled":
        marks.append(info.origin)
    return " ".join(marks)


def _load_all() -> list[ModelInfo]:
    try:
        return catalog.all_models()
    except (CatalogError, ConfigError) as exc:
        _fail(str(exc))


@click.group()
def models() -> None:
    """The model catalog: prices (USD per million tokens), limits, capabilities."""


@models.command("list")
@click.option("--provider", "-p", help="Only this provider's models (e.g. openai, ollama).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_models(provider: str | None, as_json: bool) -> None:
    """List every model the catalog knows, all layers applied."""
    infos = _load_all()
    if provider:
        wanted = provider.strip().lower()
        infos = [info for info in infos if info.provider == wanted]
        if not infos:
            known = ", ".join(sorted({info.provider for info in _load_all()}))
            _fail(f"no catalog models for provider {provider!r} (catalog has: {known})")
    if as_json:
        click.echo(json.dumps([info.to_json() for info in infos], indent=2))
        return
    from rich import box
    from rich.table import Table

    from opscopilot.cli.store_common import table_console

    console, narrow = table_console()
    # At 80 columns: no borders, one line per model, and the secondary columns (max out,
    # cache prices, capabilities) left to `models show`.
    table = Table(
        title="Model catalog (prices: USD per million tokens)",
        title_justify="left",
        box=None if narrow else box.HEAVY_HEAD,
        pad_edge=not narrow,
    )
    longest = max((len(info.id) for info in infos), default=5)
    table.add_column("model", no_wrap=True, min_width=min(longest, 48))  # ids whole
    table.add_column("context", justify="right", no_wrap=True, min_width=7)
    if not narrow:
        table.add_column("max out", justify="right")
    table.add_column("$ in", justify="right", no_wrap=True, min_width=5)
    table.add_column("$ out", justify="right", no_wrap=True, min_width=5)
    if not narrow:
        table.add_column("$ cache r/w", justify="right")
        table.add_column("capabilities")
    table.add_column("notes", no_wrap=narrow, overflow="ellipsis", ratio=1 if narrow else None)
    for info in infos:
        price = info.price
        row = [info.id, _tokens(info.context_window)]
        if not narrow:
            row.append(_tokens(info.max_output_tokens))
        row += [_usd(price.input if price else None), _usd(price.output if price else None)]
        if not narrow:
            row.append(f"{_usd(price.cache_read)}/{_usd(price.cache_write)}" if price else "-")
            row.append(_capabilities(info))
        row.append(_markers(info))
        table.add_row(*row)
    console.print(table, highlight=False)
    console.print(f"{len(infos)} models; a price of '-' is unknown, never free.")
    if narrow:
        console.print("(narrow terminal: `opscopilot models show M` has every figure)")


def _find(name: str) -> ModelInfo:
    """A spec, or a bare model name when exactly one provider has it."""
    if ":" not in name or name.split(":", 1)[0] not in {i.provider for i in _load_all()}:
        matches = [i for i in _load_all() if i.model == name or name in i.aliases]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            _fail(f"{name!r} is ambiguous: " + ", ".join(i.id for i in matches))
    try:
        spec = ModelSpec.parse(name)
    except LLMError as exc:
        _fail(str(exc), code=2)
    try:
        info = catalog.lookup(spec)
    except (CatalogError, ConfigError) as exc:
        _fail(str(exc))
    if info is None:
        _fail(catalog.price_hint(spec))
    return info


@models.command("show")
@click.argument("model", shell_complete=complete_models)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show_model(model: str, as_json: bool) -> None:
    """Show one model (provider:model; dated ids and aliases resolve to their base)."""
    info = _find(model)
    if as_json:
        click.echo(json.dumps(info.to_json(), indent=2))
        return
    price = info.price
    rows = [
        ("model", info.id),
        ("context window", f"{info.context_window:,}" if info.context_window else "unknown"),
        ("max output", f"{info.max_output_tokens:,}" if info.max_output_tokens else "unknown"),
        (
            "price in/out",
            f"${_usd(price.input)} / ${_usd(price.output)} per Mtok"
            if price
            else "unknown (cost is reported as unknown, never 0)",
        ),
        (
            "cache read/write",
            f"${_usd(price.cache_read)} / ${_usd(price.cache_write)} per Mtok" if price else "-",
        ),
        *(
            (
                f"above {_tokens(tier.above_input_tokens)}",
                f"${_usd(tier.input)} / ${_usd(tier.output)} per Mtok, cache "
                f"${_usd(tier.cache_read)} / ${_usd(tier.cache_write)} (the whole call, "
                "when the prompt is longer)",
            )
            for tier in (price.tiers if price else ())
        ),
        ("capabilities", _capabilities(info)),
        ("notes", _markers(info) or "-"),
        ("aliases", ", ".join(info.aliases) or "-"),
        ("source", info.source),
        ("as of", info.as_of or "-"),
        ("via", info.note or "-"),
        ("layer", info.origin),
    ]
    console = _console()
    for label, value in rows:
        console.print(f"[bold]{label:>17}[/bold]  {value}")


@models.command("sync")
@click.option("--url", help="Where to fetch (default: $OPSCOPILOT_MODELS_URL or models.dev).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def sync_models(url: str | None, as_json: bool) -> None:
    """Fetch models.dev's catalog and keep it in the user data folder (models.json)."""
    from opscopilot.llm import catalog_sync

    try:
        report = catalog_sync.sync(url)
    except CatalogError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    click.echo(
        f"synced {report.models} models from {report.url}: {report.added} added, "
        f"{report.updated} updated, {report.unchanged} unchanged, "
        f"{report.skipped} skipped -> {report.path}"
    )
