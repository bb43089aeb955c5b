"""Long-context tiers: a call whose prompt is past the tier is priced, capped and estimated
at the tier's rates, from the bundled catalog's figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opscopilot.governance import Caps, Ledger, Spent, guard_stream, preflight
from opscopilot.llm import catalog
from opscopilot.llm.types import (
    Finish,
    Message,
    Price,
    PriceTier,
    Request,
    StreamEvent,
    TextDelta,
    Usage,
    UsageUpdate,
)


def _price(spec: str) -> Price:
    price = catalog.price_for(spec)
    assert price is not None
    return price


def test_a_300k_token_gemini_pro_call_is_priced_at_the_long_context_rate() -> None:
    price = _price("gemini:gemini-2.5-pro")
    usage = Usage(input_tokens=300_000, output_tokens=10_000)
    # Google's list price above 200k prompt tokens: $2.50 in, $15 out per million.
    assert price.cost(usage) == pytest.approx(300_000 * 2.5 / 1e6 + 10_000 * 15.0 / 1e6)
    short = Usage(input_tokens=100_000, output_tokens=10_000)
    assert price.cost(short) == pytest.approx(100_000 * 1.25 / 1e6 + 10_000 * 10.0 / 1e6)


def test_a_300k_token_claude_sonnet_call_is_priced_at_the_long_context_rate() -> None:
    for spec in ("anthropic:claude-sonnet-4-5", "anthropic:claude-sonnet-4-20250514"):
        price = _price(spec)
        usage = Usage(
            input_tokens=300_000,
            cache_read_tokens=50_000,
            cache_write_tokens=10_000,
            output_tokens=4_000,
        )
        # $6 in, $22.50 out, $0.60 cache read, $7.50 cache write above 200k.
        expected = (240_000 * 6.0 + 50_000 * 0.6 + 10_000 * 7.5 + 4_000 * 22.5) / 1e6
        assert price.cost(usage) == pytest.approx(expected), spec
        # The threshold counts every prompt token, cache included, and is strict.
        at_threshold = Usage(input_tokens=200_000, output_tokens=1_000)
        assert price.cost(at_threshold) == pytest.approx((200_000 * 3.0 + 1_000 * 15.0) / 1e6)


def test_tiers_in_the_catalog_where_providers_charge_them() -> None:
    tiered = {
        "gemini:gemini-2.5-pro": 200_000,
        "gemini:gemini-3.1-pro-preview": 200_000,
        "anthropic:claude-sonnet-4": 200_000,
        "anthropic:claude-sonnet-4-5": 200_000,
        "openai:gpt-5.4": 272_000,
        "openai:gpt-5.5": 272_000,
        "xai:grok-4.3": 200_000,
    }
    for spec, threshold in tiered.items():
        info = catalog.lookup(spec)
        assert info is not None and info.price is not None
        tier = info.price.tiers[0]
        assert tier.above_input_tokens == threshold
        assert tier.input > info.price.input and tier.output >= info.price.output
        assert "above" in (info.note or "") and "LiteLLM" in (info.note or "")
        assert info.to_json()["price"]["tiers"][0]["above_input_tokens"] == threshold


def _long_request(tokens: int, max_tokens: int) -> Request:
    return Request(model="m", messages=[Message.user("x" * (tokens * 4))], max_tokens=max_tokens)


def test_preflight_pays_the_tier_output_rate_for_a_long_prompt() -> None:
    price = Price(
        input=1.0, output=10.0, tiers=(PriceTier(above_input_tokens=1000, input=2.0, output=20.0),)
    )
    # ~2004 prompt tokens at $2/M = ~$0.004; $0.024 leaves ~$0.02 = ~1000 tokens at $20/M.
    verdict = preflight(_long_request(2000, 5000), price, Caps(per_call=0.024), Spent())
    assert verdict.allowed and 980 <= (verdict.max_tokens or 0) <= 1000
    flat = Price(input=1.0, output=10.0)
    flat_verdict = preflight(_long_request(2000, 5000), flat, Caps(per_call=0.024), Spent())
    assert (flat_verdict.max_tokens or 0) > 2000  # the flat rate would have allowed twice as many


@pytest.mark.anyio
async def test_the_stream_guard_cuts_a_long_prompt_off_at_the_tier_rate(tmp_path: Path) -> None:
    price = Price(
        input=0.0, output=10.0, tiers=(PriceTier(above_input_tokens=1000, input=0.0, output=20.0),)
    )
    closed: list[bool] = []

    async def upstream() -> AsyncIterator[StreamEvent]:
        try:
            yield UsageUpdate(Usage(input_tokens=5000, output_tokens=0))
            for _ in range(10_000):
                yield TextDelta("abcd")
            yield Finish("stop")
        finally:
            closed.append(True)

    with Ledger(tmp_path / "db.sqlite") as ledger:
        events = [
            event
            async for event in guard_stream(
                upstream(),
                price=price,
                caps=Caps(per_call=0.001),
                spent_before=Spent(),
                provider="openai",
                model="m",
                ledger=ledger,
                call_id="c1",
            )
        ]
        row = ledger.get("c1")
    texts = [e for e in events if e.type == "text"]
    # $0.001 at $20/M output is 50 tokens: the 51st crosses (at the flat $10/M it would be 101).
    assert closed and len(texts) == 51
    assert row is not None and row.cost_usd == pytest.approx(51 * 20.0 / 1e6)
