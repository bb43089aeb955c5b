"""`opscopilot models list|show|sync`, including sync over real HTTP on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from opscopilot.cli.main import cli
from opscopilot.llm import catalog
from tests.support.wire_server import Reply, WireServer, json_reply

MODELS_DEV = {
    "openai": {
        "id": "openai",
        "name": "OpenAI",
        "env": ["OPENAI_API_KEY"],
        "models": {
            "gpt-4o": {  # known to the bundled catalog, new price: an update
                "id": "gpt-4o",
                "name": "GPT-4o",
                "tool_call": True,
                "reasoning": False,
                "attachment": True,
                "modalities": {"input": ["text", "image"], "output": ["text"]},
                "cost": {"input": 2.0, "output": 8.0, "cache_read": 1.0},
                "limit": {"context": 128000, "output": 16384},
                "last_updated": "2026-10-01",
            },
            "gpt-7-preview": {  # unknown to the bundled catalog: an addition
                "id": "gpt-7-preview",
                "name": "GPT-7 preview",
                "tool_call": True,
                "reasoning": True,
                "modalities": {"input": ["text"], "output": ["text"]},
                "cost": {"input": 3.0, "output": 12.0, "cache_read": 0.3},
                "limit": {"context": 500000, "output": 100000},
            },
        },
    },
    "anthropic": {
        "id": "anthropic",
        "models": {
            "claude-haiku-4-5": {  # same figures as bundled: unchanged
                "id": "claude-haiku-4-5",
                "tool_call": True,
                "reasoning": True,
                "modalities": {"input": ["text", "image", "pdf"], "output": ["text"]},
                "cost": {"input": 1.0, "output": 5.0, "cache_read": 0.1, "cache_write": 1.25},
                "limit": {"context": 200000, "output": 64000},
            },
            "embedding-thing": {"id": "embedding-thing", "cost": {"input": 0.1, "output": 0}},
        },
    },
    "amazon-bedrock": {"id": "amazon-bedrock", "models": {"x": {"id": "x"}}},
}


def _run(*args: str):
    return CliRunner().invoke(cli, ["models", *args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def fresh_catalog():
    catalog.clear_cache()
    yield
    catalog.clear_cache()


def test_the_console_script_shows_a_dated_id_as_json():
    command = shutil.which("opscopilot")
    argv = [command] if command else [sys.executable, "-m", "opscopilot"]
    result = subprocess.run(
        [*argv, "models", "show", "anthropic:claude-sonnet-4-5-20250929", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["id"] == "anthropic:claude-sonnet-4-5"
    assert shown["context_window"] == 200000 and shown["max_output_tokens"] == 64000
    assert shown["price"] == {
        "input": 3.0,
        "output": 15.0,
        "cache_read": 0.3,
        "cache_write": 3.75,
        "tiers": [
            {
                "above_input_tokens": 200000,
                "input": 6.0,
                "output": 22.5,
                "cache_read": 0.6,
                "cache_write": 7.5,
            }
        ],
    }
    assert shown["source"].startswith("https://") and shown["as_of"]


def test_list_json_holds_every_model_and_filters_by_provider():
    everything = json.loads(_run("list", "--json").output)
    assert len(everything) >= 45
    local = json.loads(_run("list", "--provider", "ollama", "--json").output)
    assert local and all(m["local"] and m["price"]["input"] == 0 for m in local)


def test_list_prints_a_table_with_prices_and_markers():
    result = _run("list")
    assert result.exit_code == 0
    assert "builtin:ops" in result.output and "simulated" in result.output
    assert "openai:gpt-4o-mini" in result.output and "0.15" in result.output
    assert "local" in result.output


def test_list_for_a_provider_without_models_fails_with_the_known_ones():
    result = _run("list", "--provider", "nope")
    assert result.exit_code == 1
    assert "no catalog models for provider 'nope'" in result.stderr


def test_show_an_unknown_model_exits_1_with_the_pricing_hint():
    result = _run("show", "openai:gpt-99")
    assert result.exit_code == 1
    assert '[models."openai:gpt-99"] price = {input =' in result.stderr
    assert result.stdout == ""


def test_show_accepts_a_bare_name_when_one_provider_has_it_and_refuses_ambiguity():
    shown = _run("show", "gpt-4o-mini")
    assert shown.exit_code == 0 and "openai:gpt-4o-mini" in shown.output
    ambiguous = _run("show", "openai/gpt-oss-120b")
    assert ambiguous.exit_code == 1
    assert "groq:openai/gpt-oss-120b" in ambiguous.stderr
    assert "together:openai/gpt-oss-120b" in ambiguous.stderr


def test_show_a_model_added_in_config(isolated_home: Path):
    (isolated_home / "config.toml").write_text(
        '[models."lmstudio:qwen-local"]\nprice = {input = 0, output = 0}\ncontext_window = 8192\n'
    )
    from opscopilot import config

    config._cached_config.cache_clear()
    shown = json.loads(_run("show", "lmstudio:qwen-local", "--json").output)
    assert shown["origin"] == "config" and shown["context_window"] == 8192


# --------------------------------------------------------------------------- sync


def test_sync_writes_the_file_and_lookup_uses_it(wire_server: WireServer, isolated_home: Path):
    wire_server.expect("/api.json", json_reply(200, MODELS_DEV))
    result = _run("sync", "--url", f"{wire_server.url}/api.json", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.output)
    assert report["models"] == 3
    assert (report["added"], report["updated"], report["unchanged"]) == (1, 1, 1)
    assert report["skipped"] == 1  # the embedding entry has no limits
    written = json.loads((isolated_home / "models.json").read_text())
    assert set(written["models"]) == {
        "openai:gpt-4o",
        "openai:gpt-7-preview",
        "anthropic:claude-haiku-4-5",
    }
    new = catalog.lookup("openai:gpt-7-preview")
    assert new.origin == "synced" and new.context_window == 500000 and new.price.output == 12.0
    assert catalog.lookup("openai:gpt-4o").price.input == 2.0
    assert catalog.lookup("openai:gpt-4o-mini").origin == "bundled"
    assert wire_server.requests_to("/api.json")[0].method == "GET"


def test_sync_reads_the_url_from_the_environment(
    wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
):
    wire_server.expect("/mirror.json", json_reply(200, MODELS_DEV))
    monkeypatch.setenv("OPSCOPILOT_MODELS_URL", f"{wire_server.url}/mirror.json")
    result = _run("sync")
    assert result.exit_code == 0, result.stderr
    assert "synced 3 models" in result.output and "1 added, 1 updated" in result.output


@pytest.mark.parametrize(
    ("reply", "complaint"),
    [
        (
            Reply(status=200, body=b'{"openai": {"models": {"gpt', content_type="application/json"),
            "did not answer with JSON",
        ),
        (json_reply(200, {"providers-missing": True}), "no models for a supported provider"),
        (json_reply(200, ["not", "an", "object"]), "not a JSON object"),
        (json_reply(500, {"error": "boom"}), "HTTP 500"),
    ],
)
def test_a_failed_sync_is_one_line_and_leaves_the_old_file(
    wire_server: WireServer, isolated_home: Path, reply: Reply, complaint: str
):
    wire_server.expect("/api.json", json_reply(200, MODELS_DEV), reply)
    url = f"{wire_server.url}/api.json"
    assert _run("sync", "--url", url).exit_code == 0
    before = (isolated_home / "models.json").read_bytes()
    result = _run("sync", "--url", url)
    assert result.exit_code == 1
    assert complaint in result.stderr and result.stderr.count("\n") == 1
    assert (isolated_home / "models.json").read_bytes() == before
    assert not list(isolated_home.glob(".models-*"))


def test_sync_with_nothing_listening_fails_cleanly(isolated_home: Path):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _run("sync", "--url", f"http://127.0.0.1:{port}/api.json")
    assert result.exit_code == 1
    assert "cannot fetch" in result.stderr and result.stderr.count("\n") == 1
    assert not (isolated_home / "models.json").exists()


def test_sync_never_writes_a_key_from_the_url(wire_server: WireServer, isolated_home: Path):
    wire_server.expect("/api.json", json_reply(200, MODELS_DEV))
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"
    result = _run("sync", "--url", f"{wire_server.url}/api.json?api_key={secret}")
    assert result.exit_code == 0, result.stderr
    assert secret not in result.output
    assert secret not in (isolated_home / "models.json").read_text()
