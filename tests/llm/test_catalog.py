"""The model catalog: bundled data quality, lookups and aliases, config and synced layers."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from pathlib import Path

import pytest

from opscopilot import config
from opscopilot.llm import catalog, catalog_sync
from opscopilot.llm.catalog import CatalogEntry, CatalogError
from opscopilot.llm.types import ModelSpec, Usage

REQUIRED_PROVIDERS = {
    "openai",
    "anthropic",
    "gemini",
    "ollama",
    "groq",
    "deepseek",
    "mistral",
    "openrouter",
    "together",
    "xai",
    "builtin",
}


def _bundled_raw() -> dict[str, dict]:
    return json.loads(catalog.BUNDLED_PATH.read_text())["models"]


def _write_config(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text)
    config._cached_config.cache_clear()


@pytest.fixture(autouse=True)
def fresh_catalog():
    catalog.clear_cache()
    yield
    catalog.clear_cache()


# --------------------------------------------------------------------------- bundled data


def test_every_bundled_entry_validates_with_limits_prices_and_provenance():
    today = date.today().isoformat()
    for model_id, raw in _bundled_raw().items():
        entry = CatalogEntry.model_validate(raw)  # prices >= 0, limits > 0, no stray keys
        assert re.fullmatch(r"[a-z]+:\S+", model_id), model_id
        assert entry.context_window and entry.context_window > 0, model_id
        assert entry.max_output_tokens and entry.max_output_tokens > 0, model_id
        assert entry.max_output_tokens <= entry.context_window, model_id
        assert entry.price is not None, model_id
        assert entry.provenance.source.strip(), model_id
        assert entry.provenance.as_of and entry.provenance.as_of <= today, model_id
        date.fromisoformat(entry.provenance.as_of)
        if not entry.simulated:
            assert entry.provenance.source.startswith("https://"), model_id


def test_the_bundled_catalog_has_at_least_45_models_across_every_supported_provider():
    models = catalog.all_models()
    assert len(models) >= 45
    assert {info.provider for info in models} >= REQUIRED_PROVIDERS
    named = {
        "openai:gpt-4o",
        "openai:gpt-4o-mini",
        "openai:gpt-4.1",
        "openai:gpt-4.1-mini",
        "openai:gpt-4.1-nano",
        "openai:o3",
        "openai:o4-mini",
        "openai:gpt-5",
        "openai:gpt-5-mini",
        "openai:gpt-5-nano",
        "anthropic:claude-opus-4-1",
        "anthropic:claude-sonnet-4-5",
        "anthropic:claude-sonnet-4",
        "anthropic:claude-haiku-4-5",
        "anthropic:claude-3-5-haiku",
        "gemini:gemini-2.5-pro",
        "gemini:gemini-2.5-flash",
        "gemini:gemini-2.5-flash-lite",
        "gemini:gemini-2.0-flash",
        "ollama:llama3.2",
        "ollama:qwen3",
        "ollama:mistral",
        "deepseek:deepseek-chat",
        "deepseek:deepseek-reasoner",
        "mistral:mistral-large-latest",
        "mistral:mistral-small-latest",
    }
    assert named <= {info.id for info in models}


def test_local_models_cost_nothing_and_builtin_ops_has_a_simulated_demo_price():
    for info in catalog.all_models():
        if info.provider == "ollama":
            assert info.local and info.price is not None
            assert (info.price.input, info.price.output) == (0.0, 0.0)
    ops = catalog.lookup("builtin:ops")
    assert ops is not None and ops.simulated and not ops.local
    assert (ops.price.input, ops.price.output) == (1.0, 4.0)


def test_cost_follows_the_design_formula_and_is_none_without_a_price():
    info = catalog.lookup("anthropic:claude-sonnet-4-5")
    usage = Usage(
        input_tokens=10_000, cache_read_tokens=4_000, cache_write_tokens=1_000, output_tokens=2_000
    )
    expected = (5_000 * 3.0 + 4_000 * 0.3 + 1_000 * 3.75 + 2_000 * 15.0) / 1e6
    assert info.cost(usage) == pytest.approx(expected)
    assert catalog.price_for("openai:not-a-model") is None


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("openai:gpt-4o", "openai:gpt-4o"),
        ("anthropic:claude-sonnet-4-5-20250929", "anthropic:claude-sonnet-4-5"),
        ("anthropic:claude-3-5-haiku-latest", "anthropic:claude-3-5-haiku"),
        ("openai:gpt-4o-2024-08-06", "openai:gpt-4o"),
        ("openai:gpt-4.1-mini-2025-04-14", "openai:gpt-4.1-mini"),
        ("gemini:gemini-2.0-flash-001", "gemini:gemini-2.0-flash"),
        ("xai:grok-4.20-0309", "xai:grok-4.20"),
        ("ollama:llama3.2:latest", "ollama:llama3.2"),
        ("ollama:qwen3:14b", "ollama:qwen3"),
        ("ollama:gpt-oss:20b", "ollama:gpt-oss:20b"),
        ("OpenAI:gpt-5-mini", "openai:gpt-5-mini"),
    ],
)
def test_lookup_resolves_exact_ids_dated_snapshots_aliases_and_tags(spec, expected):
    info = catalog.lookup(spec)
    assert info is not None and info.id == expected


def test_lookup_accepts_a_model_spec_object():
    info = catalog.lookup(ModelSpec(provider="gemini", model="gemini-2.5-flash"))
    assert info is not None and info.context_window == 1_048_576


def test_an_unknown_model_is_none_and_the_hint_says_how_to_price_it(isolated_home: Path):
    assert catalog.lookup("openai:gpt-99-turbo") is None
    assert catalog.lookup("vllm:my-local-llama") is None
    hint = catalog.price_hint("openai:gpt-99-turbo")
    assert "\n" not in hint
    assert '[models."openai:gpt-99-turbo"]' in hint
    assert "price = {input =" in hint
    assert str(isolated_home / "config.toml") in hint


def test_lookup_is_fast_on_a_cold_cache():
    timings = []
    for _ in range(5):
        catalog.clear_cache()
        started = time.perf_counter()
        catalog.lookup("anthropic:claude-sonnet-4-5-20250929")
        timings.append(time.perf_counter() - started)
    # A guard against a lookup that re-reads every file or reaches the network, not a speed
    # figure (bench_cold_start has those): generous so a loaded CI machine never trips it.
    assert min(timings) < 0.25, f"cold lookup took {min(timings) * 1e3:.1f} ms"


# --------------------------------------------------------------------------- config layer


def test_config_overrides_a_bundled_model_field_by_field(isolated_home: Path):
    _write_config(
        isolated_home,
        """
[models."openai:gpt-4o"]
price = { input = 0.5, output = 1.5 }
context_window = 32768
capabilities = { vision = false }
""",
    )
    info = catalog.lookup("openai:gpt-4o-2024-08-06")
    assert info.origin == "config"
    assert (info.price.input, info.price.output, info.price.cache_read) == (0.5, 1.5, None)
    assert info.context_window == 32768
    assert info.max_output_tokens == 16384  # untouched fields keep the bundled figure
    assert info.capabilities.tools and not info.capabilities.vision
    assert info.source.startswith("https://")


def test_config_adds_a_model_the_catalog_does_not_know(isolated_home: Path):
    _write_config(
        isolated_home,
        """
[models."vllm:my-llama"]
price = { input = 0.2, output = 0.6 }
context_window = 65536
local = true
""",
    )
    info = catalog.lookup("vllm:my-llama")
    assert info is not None and info.origin == "config"
    assert info.price.output == 0.6 and info.context_window == 65536 and info.local
    assert info.max_output_tokens is None
    assert info.source == str(isolated_home / "config.toml")
    assert "vllm:my-llama" in {m.id for m in catalog.all_models()}


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ("price = { input = -1, output = 2 }", "price.input"),
        ("context_window = 0", "context_window"),
        ("colour = 'red'", "colour"),
        ("price = { input = 1 }", "price.output"),
    ],
)
def test_a_bad_config_table_is_one_clear_line(isolated_home: Path, table, complaint):
    _write_config(isolated_home, f'[models."openai:gpt-4o"]\n{table}\n')
    with pytest.raises(config.ConfigError) as caught:
        catalog.lookup("openai:gpt-4o")
    message = str(caught.value)
    assert "\n" not in message and complaint in message and '[models."openai:gpt-4o"]' in message


def test_a_config_key_that_is_not_provider_model_is_reported(isolated_home: Path):
    _write_config(isolated_home, "[models.gpt4]\ncontext_window = 100\n")
    with pytest.raises(config.ConfigError, match="not provider:model"):
        catalog.all_models()


# --------------------------------------------------------------------------- synced layer


def test_the_synced_layer_sits_between_bundled_and_config(isolated_home: Path):
    entries, skipped = catalog_sync.from_models_dev(
        {
            "openai": {
                "models": {
                    "gpt-4o": {
                        "id": "gpt-4o",
                        "limit": {"context": 128000, "output": 16384},
                        "cost": {"input": 2.0, "output": 9.0},
                        "tool_call": True,
                    },
                    "gpt-new": {
                        "id": "gpt-new",
                        "limit": {"context": 400000, "output": 64000},
                        "cost": {"input": 1.0, "output": 3.0},
                        "reasoning": True,
                    },
                }
            },
        },
        source_url="https://models.dev/api.json",
        today="2026-11-20",
    )
    assert skipped == 0
    catalog_sync.write_synced(entries, "https://models.dev/api.json")
    synced = catalog.lookup("openai:gpt-4o")
    assert synced.origin == "synced" and synced.price.output == 9.0
    assert "gpt-4o-2024-08-06" in synced.aliases  # bundled aliases survive a sync
    assert catalog.lookup("openai:gpt-new").capabilities.reasoning
    _write_config(isolated_home, '[models."openai:gpt-4o"]\nprice = {input = 1, output = 2}\n')
    assert catalog.lookup("openai:gpt-4o").price.output == 2.0


def test_a_corrupt_synced_file_is_one_line_naming_the_fix(isolated_home: Path):
    (isolated_home / "models.json").write_text("{not json")
    with pytest.raises(CatalogError) as caught:
        catalog.lookup("openai:gpt-4o")
    assert caught.value.kind == "corrupt"
    assert "models sync" in str(caught.value) and "\n" not in str(caught.value)


def test_models_dev_mapping_keeps_supported_providers_and_skips_unusable_entries():
    payload = {
        "google": {
            "models": {
                "gemini-9": {
                    "id": "gemini-9",
                    "limit": {"context": 1_000_000, "output": 65_536},
                    "cost": {"input": 1.0, "output": 5.0, "cache_read": 0.1},
                    "modalities": {"input": ["text", "image"], "output": ["text"]},
                    "tool_call": True,
                }
            }
        },
        "togetherai": {
            "models": {
                "org/model": {
                    "id": "org/model",
                    "limit": {"context": 32_768, "output": 4_096},
                    "cost": {"input": 0.2, "output": 0.2},
                }
            }
        },
        "some-cloud": {"models": {"x": {"id": "x", "limit": {"context": 1, "output": 1}}}},
        "openai": {
            "models": {
                "no-limit": {"id": "no-limit", "cost": {"input": 1, "output": 1}},
                "bad-cost": {
                    "id": "bad-cost",
                    "limit": {"context": 10},
                    "cost": {"input": -1, "output": 1},
                },
                "not-a-dict": 7,
            }
        },
    }
    entries, skipped = catalog_sync.from_models_dev(payload, source_url="u", today="2026-11-20")
    assert set(entries) == {"gemini:gemini-9", "together:org/model"}
    assert skipped == 3
    gemini = entries["gemini:gemini-9"]
    assert gemini["capabilities"] == {"tools": True, "reasoning": False, "vision": True}
    assert gemini["price"] == {"input": 1.0, "output": 5.0, "cache_read": 0.1}
    assert gemini["provenance"]["as_of"] == "2026-11-20"


@pytest.mark.parametrize("payload", [[], {"unknown": {"models": {}}}, {"openai": {"models": {}}}])
def test_a_models_dev_answer_without_usable_models_is_malformed(payload):
    with pytest.raises(CatalogError) as caught:
        catalog_sync.from_models_dev(payload, source_url="u", today="2026-11-20")
    assert caught.value.kind == "malformed"


def test_a_sync_takes_models_devs_context_tiers_and_keeps_bundled_ones_it_does_not_name(
    isolated_home: Path,
):
    entries, _ = catalog_sync.from_models_dev(
        {
            "google": {
                "models": {
                    "gemini-2.5-pro": {  # same list price, no tiers: the bundled tier stays
                        "id": "gemini-2.5-pro",
                        "limit": {"context": 1_048_576, "output": 65_536},
                        "cost": {"input": 1.25, "output": 10.0},
                    },
                    "gemini-old-shape": {
                        "id": "gemini-old-shape",
                        "limit": {"context": 1_000_000, "output": 8192},
                        "cost": {
                            "input": 1.0,
                            "output": 4.0,
                            "context_over_200k": {"input": 2.0, "output": 8.0},
                        },
                    },
                }
            },
            "openai": {
                "models": {
                    "gpt-tiered": {
                        "id": "gpt-tiered",
                        "limit": {"context": 1_050_000, "output": 128_000},
                        "cost": {
                            "input": 5.0,
                            "output": 30.0,
                            "tiers": [
                                {
                                    "tier": {"type": "context", "size": 272_000},
                                    "input": 10.0,
                                    "output": 45.0,
                                    "cache_read": 1.0,
                                },
                                {
                                    "tier": {"type": "service", "name": "flex"},
                                    "input": 1.0,
                                    "output": 1.0,
                                },
                            ],
                            "context_over_200k": {"input": 9.0, "output": 40.0},
                        },
                    }
                }
            },
        },
        source_url="u",
        today="2026-12-01",
    )
    catalog_sync.write_synced(entries, "u")
    old_shape = catalog.price_for("gemini:gemini-old-shape")
    assert [(t.above_input_tokens, t.input, t.output) for t in old_shape.tiers] == [
        (200_000, 2.0, 8.0)
    ]
    listed = catalog.price_for("openai:gpt-tiered")
    assert [(t.above_input_tokens, t.output, t.cache_read) for t in listed.tiers] == [
        (272_000, 45.0, 1.0)
    ]
    kept = catalog.lookup("gemini:gemini-2.5-pro")
    assert kept.origin == "synced" and kept.price.tiers[0].output == 15.0
    assert kept.cost(Usage(input_tokens=300_000)) == pytest.approx(0.75)
