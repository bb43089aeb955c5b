"""`opscopilot models sync`: models.dev's api.json mapped into the catalog's synced layer.

models.dev answers `{provider_id: {id, name, env, api, doc, models: {model_id: {id, limit:
{context, output}, cost: {input, output, cache_read, cache_write}, tool_call, reasoning,
attachment, modalities: {input, output}, last_updated, ...}}}}` (USD per million tokens).
Only the providers opscopilot can talk to are kept; the result is written to
`data_dir()/models.json` atomically, so a failed sync leaves the previous file in place.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from opscopilot import redact
from opscopilot.llm.catalog import (
    CATALOG_FORMAT,
    CatalogEntry,
    CatalogError,
    clear_synced_cache,
    stored_entry,
    synced_path,
)

DEFAULT_SYNC_URL = "https://models.dev/api.json"
SYNC_URL_ENV = "OPSCOPILOT_MODELS_URL"

# models.dev provider id -> ours. Only providers opscopilot can talk to are kept.
MODELS_DEV_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "openrouter": "openrouter",
    "togetherai": "together",
    "xai": "xai",
    "ollama": "ollama",
}


@dataclass
class SyncReport:
    url: str
    path: Path
    models: int
    added: int
    updated: int
    unchanged: int
    skipped: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def from_models_dev(payload: Any, *, source_url: str, today: str) -> tuple[dict[str, Any], int]:
    """Map a models.dev api.json payload to stored entries: (entries by id, skipped count)."""
    if isinstance(payload, dict) and isinstance(payload.get("providers"), dict):
        payload = payload["providers"]  # the documented v1 envelope; the live API is bare
    if not isinstance(payload, dict):
        raise CatalogError("malformed", "the answer is not a JSON object of providers")
    entries: dict[str, Any] = {}
    skipped = 0
    for their_provider, ours in MODELS_DEV_PROVIDERS.items():
        block = payload.get(their_provider)
        if not isinstance(block, dict) or not isinstance(block.get("models"), dict):
            continue
        for key, model in block["models"].items():
            entry = _entry_from_models_dev(model, ours, source_url=source_url, today=today)
            if entry is None:
                skipped += 1
                continue
            model_id = model.get("id") if isinstance(model.get("id"), str) else key
            entries[f"{ours}:{model_id}"] = entry
    if not entries:
        raise CatalogError("malformed", "the answer holds no models for a supported provider")
    return entries, skipped


def _entry_from_models_dev(
    model: Any, provider: str, *, source_url: str, today: str
) -> dict[str, Any] | None:
    if not isinstance(model, dict):
        return None
    limit = model.get("limit") if isinstance(model.get("limit"), dict) else {}
    cost = model.get("cost") if isinstance(model.get("cost"), dict) else None
    modalities = model.get("modalities") if isinstance(model.get("modalities"), dict) else {}
    inputs = modalities.get("input") if isinstance(modalities.get("input"), list) else None
    price = None
    if cost is not None and cost.get("input") is not None and cost.get("output") is not None:
        price = {k: cost.get(k) for k in ("input", "output", "cache_read", "cache_write")}
        if tiers := _context_tiers(cost):
            price["tiers"] = tiers
    note = "models.dev"
    if isinstance(model.get("last_updated"), str):
        note += f", entry last updated {model['last_updated']}"
    raw = {
        "context_window": limit.get("context") or None,
        "max_output_tokens": limit.get("output") or None,
        "price": price,
        "capabilities": {
            "tools": bool(model.get("tool_call")),
            "reasoning": bool(model.get("reasoning")),
            "vision": "image" in inputs if inputs is not None else bool(model.get("attachment")),
        },
        "provenance": {"source": source_url, "as_of": today, "note": note},
        "local": provider == "ollama",
    }
    try:
        entry = CatalogEntry.model_validate(raw)
    except ValidationError:
        return None
    if entry.context_window is None:
        return None  # a model with no known context is no help to budgets or the TUI
    # None means "not known here": left out, so a merge keeps what a lower layer knows.
    stored = entry.model_dump(mode="json", exclude_none=True)
    for flag in ("aliases", "simulated", "local"):
        if not stored.get(flag):
            stored.pop(flag, None)
    if stored.get("price") and not stored["price"].get("tiers"):
        stored["price"].pop("tiers", None)  # no tiers known here: a merge keeps the bundled ones
    return stored


def _context_tiers(cost: dict[str, Any]) -> list[dict[str, Any]]:
    """models.dev's long-context rates as our tiers: `cost.tiers` entries of type context
    (`{"tier": {"type": "context", "size": N}, "input": …}`), else the older
    `context_over_200k` block as one tier above 200,000 prompt tokens."""
    rates = ("input", "output", "cache_read", "cache_write")
    tiers: dict[int, dict[str, Any]] = {}
    listed = cost.get("tiers")
    if isinstance(listed, list):
        for item in listed:
            tier = item.get("tier") if isinstance(item, dict) else None
            if not isinstance(tier, dict) or tier.get("type") != "context":
                continue
            size = tier.get("size")
            complete = item.get("input") is not None and item.get("output") is not None
            if isinstance(size, int) and size > 0 and complete:
                tiers[size] = {"above_input_tokens": size, **{k: item.get(k) for k in rates}}
    over = cost.get("context_over_200k")
    complete = isinstance(over, dict) and None not in (over.get("input"), over.get("output"))
    if not tiers and complete:
        tiers[200_000] = {"above_input_tokens": 200_000, **{k: over.get(k) for k in rates}}
    return [tiers[size] for size in sorted(tiers)]


_COMPARED = {"context_window", "max_output_tokens", "price", "capabilities"}


def _comparable(raw: dict[str, Any]) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        return CatalogEntry.model_validate(raw).model_dump(mode="json", include=_COMPARED)
    except ValidationError:
        return {}


def write_synced(entries: dict[str, Any], source_url: str) -> Path:
    """Write models.json atomically (temp file + rename): a failure leaves the old file."""
    path = synced_path()
    document = {
        "format": CATALOG_FORMAT,
        "version": 1,
        "source": source_url,
        "synced_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "models": dict(sorted(entries.items())),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=".models-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=1, ensure_ascii=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CatalogError("io", f"cannot write {path}: {exc.strerror or exc}") from None
    clear_synced_cache()
    return path


def sync(url: str | None = None, *, timeout_s: float = 30.0) -> SyncReport:
    """Fetch models.dev (or `url`), map it, and write models.json; raises CatalogError."""
    import httpx

    url = url or os.environ.get(SYNC_URL_ENV) or DEFAULT_SYNC_URL
    shown = redact.redact(url)
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=True) as client:
            response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        reason = redact.redact(str(exc)) or type(exc).__name__
        raise CatalogError("network", f"cannot fetch {shown}: {reason}") from None
    if response.status_code >= 400:
        raise CatalogError("http", f"{shown} answered HTTP {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        raise CatalogError("malformed", f"{shown} did not answer with JSON") from None
    today = datetime.now(UTC).date().isoformat()
    try:
        entries, skipped = from_models_dev(payload, source_url=shown, today=today)
    except CatalogError as exc:
        raise CatalogError(exc.kind, f"{shown}: {exc}") from None
    added = updated = 0
    for model_id, entry in entries.items():
        before = _comparable(stored_entry(model_id))
        if before is None:
            added += 1
        elif before != _comparable(entry):
            updated += 1
    path = write_synced(entries, shown)
    return SyncReport(
        url=shown,
        path=path,
        models=len(entries),
        added=added,
        updated=updated,
        unchanged=len(entries) - added - updated,
        skipped=skipped,
    )
