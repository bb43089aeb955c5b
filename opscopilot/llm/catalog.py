"""The model catalog: context limits, prices and capabilities for `provider:model` specs.

Three layers, later wins: the bundled `catalog.json` (curated, every figure with its source
and date) < `models.json` in the user data folder (written by `opscopilot models sync`
from models.dev) < `[models."provider:model"]` tables in config.toml. A model missing
from all three still works everywhere else; its cost is unknown (None), never 0.

`lookup` sits on `prompt`'s start-up path, so the JSON is parsed once per process with
plain `json`, a `ModelInfo` is built only for the model asked about, and the models build
their validators on first use (`defer_build`), not at import.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opscopilot import config
from opscopilot.llm.types import LLMError, ModelSpec, Price, Usage

BUNDLED_PATH = Path(__file__).with_name("catalog.json")
CATALOG_FORMAT = "opscopilot-model-catalog"

Origin = Literal["bundled", "synced", "config"]
CatalogErrorKind = Literal["network", "http", "malformed", "corrupt", "io"]

# Dated or versioned suffixes that name a snapshot of a base model (tried after an exact miss).
_SNAPSHOT_SUFFIXES = (
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # gpt-4o-2024-08-06
    re.compile(r"-\d{8}$"),  # claude-sonnet-4-5-20250929
    re.compile(r"-\d{3,4}$"),  # gemini-2.0-flash-001, grok-4.20-0309
    re.compile(r"-latest$"),  # claude-3-5-haiku-latest
)


class CatalogError(Exception):
    """The catalog could not be synced or read; the message is one line, `kind` says why."""

    def __init__(self, kind: CatalogErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: CatalogErrorKind = kind


# --------------------------------------------------------------------------- stored shape


class TierEntry(BaseModel):
    """A long-context tier as stored: the rates of calls whose prompt exceeds the threshold."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    above_input_tokens: int = Field(gt=0)
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)


class PriceEntry(BaseModel):
    """A price as stored: USD per million tokens, never negative; null = no such price."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    tiers: list[TierEntry] = Field(default_factory=list)

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: list[TierEntry]) -> list[TierEntry]:
        thresholds = [tier.above_input_tokens for tier in tiers]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("tiers must have distinct above_input_tokens in ascending order")
        return tiers


class Capabilities(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    tools: bool = False
    reasoning: bool = False
    vision: bool = False


class Provenance(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    source: str = Field(min_length=1)
    as_of: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    note: str | None = None


class CatalogEntry(BaseModel):
    """One model's record as stored in catalog.json and models.json (after layering)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    price: PriceEntry | None = None
    capabilities: Capabilities = Field(default_factory=Capabilities)
    provenance: Provenance
    aliases: list[str] = Field(default_factory=list)
    deprecation_date: str | None = None
    simulated: bool = False
    local: bool = False


class ConfigOverride(BaseModel):
    """A `[models."provider:model"]` table: any field, flat provenance for easy TOML."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    price: PriceEntry | None = None
    capabilities: dict[Literal["tools", "reasoning", "vision"], bool] | None = None
    source: str | None = None
    as_of: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    note: str | None = None
    aliases: list[str] | None = None
    deprecation_date: str | None = None
    simulated: bool | None = None
    local: bool | None = None


# --------------------------------------------------------------------------- public shape


class ModelInfo(BaseModel):
    """Everything the app knows about one model, after the three layers were applied."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    provider: str
    model: str
    context_window: int | None
    max_output_tokens: int | None
    price: Price | None
    capabilities: Capabilities
    source: str
    as_of: str | None
    note: str | None = None
    simulated: bool = False
    local: bool = False
    origin: Origin = "bundled"
    aliases: list[str] = Field(default_factory=list)
    deprecation_date: str | None = None

    def cost(self, usage: Usage) -> float | None:
        """USD for this usage, or None when the price is unknown."""
        return None if self.price is None else self.price.cost(usage)

    def to_json(self) -> dict[str, Any]:
        """The `models show --json` object: price always has its four keys (or is null)."""
        data = self.model_dump(mode="json")
        if self.price is not None:
            data["price"] = {
                "input": self.price.input,
                "output": self.price.output,
                "cache_read": self.price.cache_read,
                "cache_write": self.price.cache_write,
                "tiers": [tier.model_dump() for tier in self.price.tiers],
            }
        return data


# --------------------------------------------------------------------------- layers


@cache
def _bundled() -> dict[str, dict[str, Any]]:
    with BUNDLED_PATH.open("rb") as handle:
        return json.load(handle)["models"]


def synced_path() -> Path:
    return config.data_dir() / "models.json"


_synced_cache: dict[tuple[str, int, int], dict[str, dict[str, Any]]] = {}
_NOT_SYNCED: dict[str, dict[str, Any]] = {}  # one object, so "never synced" is a stable identity


def _synced() -> dict[str, dict[str, Any]]:
    """models.json from the last sync ({} when never synced), re-read when the file changes."""
    path = synced_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return _NOT_SYNCED
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _synced_cache:
        _synced_cache.clear()
        _synced_cache[key] = _read_catalog_file(path)
    return _synced_cache[key]


def _read_catalog_file(path: Path) -> dict[str, dict[str, Any]]:
    hint = "run `opscopilot models sync` again or delete it"
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CatalogError("corrupt", f"{path}: not a readable catalog ({exc}); {hint}") from None
    if not isinstance(data, dict) or data.get("format") != CATALOG_FORMAT:
        raise CatalogError("corrupt", f"{path}: not an opscopilot model catalog; {hint}")
    models = data.get("models")
    if not isinstance(models, dict):
        raise CatalogError("corrupt", f"{path}: has no models table; {hint}")
    return models


def _config_models() -> dict[str, Any]:
    return config.section("models")


def _config_spec(key: str) -> ModelSpec:
    try:
        return ModelSpec.parse(key)
    except LLMError:
        raise config.ConfigError(
            f'{config.config_path()}: [models."{key}"] is not provider:model'
        ) from None


def _config_entry(key: str) -> dict[str, Any]:
    """A config table turned into the stored shape (only the fields the operator set)."""
    raw = _config_models()[key]
    where = f'{config.config_path()}: [models."{key}"]'
    if not isinstance(raw, dict):
        raise config.ConfigError(f"{where} must be a table")
    try:
        override = ConfigOverride.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "table"
        raise config.ConfigError(f"{where} {field}: {error['msg']}") from None
    entry = override.model_dump(exclude_unset=True, exclude={"source", "as_of", "note"})
    provenance = {k: raw[k] for k in ("source", "as_of", "note") if k in raw}
    if provenance:
        entry["provenance"] = provenance
    return entry


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Field by field; capabilities and provenance merge key by key, aliases add up.

    A price is replaced whole: an operator's price is one statement, not a patch. A price
    that names no tiers but the same base rates keeps the lower layer's long-context tiers
    (models.dev or an operator restating the list price says nothing about them).
    """
    merged = dict(base)
    for key, value in top.items():
        if key == "price" and isinstance(value, dict) and "tiers" not in value:
            below = merged.get("price")
            same = isinstance(below, dict) and all(
                below.get(rate) == value.get(rate) for rate in ("input", "output")
            )
            merged[key] = {**value, "tiers": below.get("tiers", [])} if same else value  # type: ignore[union-attr]
        elif key in ("capabilities", "provenance") and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        elif key == "aliases" and merged.get("aliases"):
            merged[key] = list(dict.fromkeys([*merged["aliases"], *value]))
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------- lookup


def _candidates(spec: ModelSpec) -> list[str]:
    """Ids to try, best first: exact, then the model with snapshot suffixes or tags removed."""
    names = [spec.model]
    for pattern in _SNAPSHOT_SUFFIXES:
        stripped = pattern.sub("", spec.model)
        if stripped != spec.model and stripped:
            names.append(stripped)
    if ":" in spec.model:  # ollama tags: llama3.2:latest, qwen3:14b
        family = spec.model.split(":", 1)[0]
        names.append(family)
    return [f"{spec.provider}:{name}" for name in dict.fromkeys(names)]


def _alias_index() -> dict[str, str]:
    """`provider:alias` -> canonical id over the bundled and synced layers."""
    index: dict[str, str] = {}
    for layer in (_bundled(), _synced()):
        for model_id, entry in layer.items():
            provider = model_id.split(":", 1)[0]
            for alias in entry.get("aliases") or ():
                index[f"{provider}:{alias}"] = model_id
    return index


def _resolve(spec: ModelSpec) -> tuple[str | None, str | None]:
    """(catalog id, config key) for a spec; either may be None."""
    bundled, synced, configured = _bundled(), _synced(), _config_models()
    candidates = _candidates(spec)
    exact = candidates[0]
    config_key = next((c for c in candidates if c in configured), None)
    if exact in bundled or exact in synced:
        return exact, config_key
    aliases = _alias_index()
    if exact in aliases:
        return aliases[exact], config_key
    for candidate in candidates[1:]:
        if candidate in bundled or candidate in synced:
            return candidate, config_key
        if candidate in aliases:
            return aliases[candidate], config_key
    return None, config_key


def _build(model_id: str, config_key: str | None) -> ModelInfo:
    origin: Origin = "bundled"
    layers: list[dict[str, Any]] = []
    if (entry := _bundled().get(model_id)) is not None:
        layers.append(entry)
    if (entry := _synced().get(model_id)) is not None:
        layers.append(entry)
        origin = "synced"
    if config_key is not None:
        layers.append(_config_entry(config_key))
        origin = "config"
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merge(merged, layer)
    if "provenance" not in merged:  # a model added in config.toml with no source given
        merged["provenance"] = {"source": str(config.config_path())}
    try:
        stored = CatalogEntry.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        raise CatalogError(
            "corrupt", f"catalog entry {model_id}: {field}: {error['msg']}"
        ) from None
    provider, _, model = model_id.partition(":")
    price = None if stored.price is None else Price(**stored.price.model_dump())
    return ModelInfo(
        id=model_id,
        provider=provider,
        model=model,
        context_window=stored.context_window,
        max_output_tokens=stored.max_output_tokens,
        price=price,
        capabilities=stored.capabilities,
        source=stored.provenance.source,
        as_of=stored.provenance.as_of,
        note=stored.provenance.note,
        simulated=stored.simulated,
        local=stored.local,
        origin=origin,
        aliases=stored.aliases,
        deprecation_date=stored.deprecation_date,
    )


# spec -> (the synced catalog and the config it was built from, the answer). Holding the
# two objects themselves makes "same inputs" an identity check that can't be fooled.
_lookups: dict[str, tuple[object, object, ModelInfo | None]] = {}


def lookup(spec: str | ModelSpec) -> ModelInfo | None:
    """The catalog's record for a spec (dated ids and aliases resolve to their base), or None.

    Answers are kept until the synced file or the loaded config changes: every model call
    prices itself, so this sits on the path of each one.
    """
    parsed = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    synced, settings = _synced(), config.config()
    cached = _lookups.get(str(parsed))
    if cached is not None and cached[0] is synced and cached[1] is settings:
        return cached[2]
    model_id, config_key = _resolve(parsed)
    if model_id is None and config_key is None:
        info = None
    else:
        info = _build(model_id or config_key, config_key)  # type: ignore[arg-type]
    if len(_lookups) > 512:
        _lookups.clear()
    _lookups[str(parsed)] = (synced, settings, info)
    return info


def price_for(spec: str | ModelSpec) -> Price | None:
    """The price of a spec, or None when unknown (a cost must then be reported as unknown)."""
    info = lookup(spec)
    return None if info is None else info.price


def all_models() -> list[ModelInfo]:
    """Every model in the catalog, all layers applied, sorted by id."""
    ids = dict.fromkeys([*_bundled(), *_synced()])
    config_keys: dict[str, str] = {}
    for key in _config_models():
        catalog_id, _ = _resolve(_config_spec(key))
        target = catalog_id or key
        config_keys[target] = key
        ids.setdefault(target, None)
    return sorted((_build(i, config_keys.get(i)) for i in ids), key=lambda info: info.id)


def price_hint(spec: str | ModelSpec) -> str:
    """One line telling the operator how to price a model the catalog does not know."""
    name = str(spec).strip()
    return (
        f"{name} is not in the model catalog, so its cost is unknown; price it in "
        f'{config.config_path()} with [models."{name}"] price = {{input = 1.0, output = 4.0}} '
        "(USD per million tokens; context_window = 128000 optional), "
        "or run `opscopilot models sync`"
    )


def clear_cache() -> None:
    """Forget parsed files (tests, or after writing models.json by hand)."""
    _lookups.clear()
    _bundled.cache_clear()
    _synced_cache.clear()


def stored_entry(model_id: str) -> dict[str, Any]:
    """The bundled and synced records of one id merged, as stored ({} when neither has it)."""
    return _merge(_bundled().get(model_id, {}), _synced().get(model_id, {}))


def clear_synced_cache() -> None:
    """Forget the parsed models.json (after a sync rewrote it)."""
    _synced_cache.clear()
