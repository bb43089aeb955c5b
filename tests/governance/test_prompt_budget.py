"""`opscopilot prompt` under budgets, as an operator runs it: a real subprocess, real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opscopilot.governance import Ledger
from tests.support.wire_server import Reply, WireServer

TOTAL_TOKENS = 100_000
TOKEN_EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"tok "}}]}\n\n'
ONE_TOKEN_USD = 10.0 / 1e6  # "tok " is one token at $10 per million output tokens


def long_answer() -> Iterator[bytes]:
    """A 100k-token OpenAI stream, one token per event, generated as it is sent."""
    for _ in range(TOTAL_TOKENS):
        yield TOKEN_EVENT
    yield b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'


@pytest.fixture
def priced_home(isolated_home: Path, wire_server: WireServer) -> dict[str, str]:
    (isolated_home / "config.toml").write_text(
        '[models."openai:test-model"]\nprice = {input = 1.0, output = 10.0}\n'
    )
    env = dict(os.environ)
    env.update(
        OPENAI_BASE_URL=wire_server.url + "/v1", OPENAI_API_KEY="sk-test-governance-0000000000000"
    )
    return env


def run_prompt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "opscopilot",
            "prompt",
            "why is the gateway slow?",
            "--model",
            "openai:test-model",
            "--json",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_max_cost_cuts_the_stream_off_within_one_chunk_and_closes_the_connection(
    wire_server: WireServer,
    priced_home: dict[str, str],
) -> None:
    wire_server.expect("/v1/chat/completions", Reply(body=long_answer(), delay_s=0.0002))
    result = run_prompt(priced_home, "--max-cost", "0.01")
    assert result.returncode == 4, result.stderr
    output = json.loads(result.stdout)
    assert output["finish_reason"] == "budget"
    assert output["error"]["kind"] == "budget"
    assert "of $0.01 cap (per-call)" in output["error"]["message"]
    assert 0.01 < output["cost_usd"] <= 0.01 + 2 * ONE_TOKEN_USD
    assert output["text"].startswith("tok tok ") and len(output["text"]) < 8_000
    with Ledger() as ledger:
        assert ledger.spent_today() == pytest.approx(output["cost_usd"], rel=1e-9)
        (row,) = ledger.calls()
    assert row.usage.output_tokens == output["usage"]["output_tokens"]
    delivery = wire_server.deliveries[0]
    assert delivery.finished.wait(10)
    assert delivery.closed_early
    assert delivery.bytes_sent < len(TOKEN_EVENT) * TOTAL_TOKENS / 20
    sent = wire_server.requests[0].json()
    assert sent["max_completion_tokens"] <= 1000  # preflight lowered it to what $0.01 buys


def test_a_day_cap_hit_in_one_process_is_enforced_in_the_next(
    wire_server: WireServer,
    priced_home: dict[str, str],
) -> None:
    wire_server.expect("/v1/chat/completions", Reply(body=long_answer(), delay_s=0.0002))
    priced_home["OPSCOPILOT_MAX_COST_PER_DAY"] = "0.005"
    first = run_prompt(priced_home)
    assert first.returncode == 4, first.stderr
    assert "(per-day)" in json.loads(first.stdout)["error"]["message"]
    second = run_prompt(priced_home)
    assert second.returncode == 4, second.stderr
    refusal = json.loads(second.stdout)["error"]["message"]
    assert "per-day cap of $0.005 already reached" in refusal
    assert len(wire_server.requests) == 1  # the second process never called the provider


def test_a_cap_on_a_model_without_a_price_refuses_with_the_price_hint(
    wire_server: WireServer,
    priced_home: dict[str, str],
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "opscopilot",
            "prompt",
            "hi",
            "--model",
            "openai:unpriced",
            "--max-cost",
            "1",
        ],
        env=priced_home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    assert "no price known for unpriced" in result.stderr
    assert '[models."openai:unpriced"]' in result.stderr
    assert wire_server.requests == []


def test_a_max_tokens_lowered_to_fit_the_cap_is_said_on_stderr(
    wire_server: WireServer,
    priced_home: dict[str, str],
) -> None:
    half = (
        b'data: {"choices":[{"index":0,"delta":{"content":"The gateway is slow because"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\ndata: [DONE]\n\n'
    )
    wire_server.expect("/v1/chat/completions", Reply(body=half))
    result = subprocess.run(
        [
            *(sys.executable, "-m", "opscopilot", "prompt", "why is the gateway slow?"),
            *("--model", "openai:test-model", "--max-tokens", "4000", "--max-cost", "0.001"),
        ],
        env=priced_home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The gateway is slow because\n"
    sent = wire_server.requests[0].json()["max_completion_tokens"]
    assert sent < 4000
    assert f"max_tokens lowered to {sent} to stay within the per-call cap of $0.001" in (
        result.stderr
    )
