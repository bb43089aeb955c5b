from __future__ import annotations

from opscopilot.governance import Caps, Spent, estimate_prompt_tokens, preflight
from opscopilot.llm.types import Message, Price, Request, ToolSpec

PRICE = Price(input=1.0, output=10.0)  # USD per million tokens


def request(text: str = "x" * 4000, max_tokens: int | None = None) -> Request:
    return Request(model="m", messages=[Message.user(text)], max_tokens=max_tokens)


def test_prompt_estimate_counts_text_tool_schemas_and_anthropics_denser_tokens() -> None:
    plain = estimate_prompt_tokens(request())
    assert 1000 <= plain <= 1010
    tool = ToolSpec(
        name="read_file",
        description="Read a file " * 20,
        parameters={"type": "object", "properties": {"path": {"type": "string"}}},
    )
    with_tools = estimate_prompt_tokens(request().model_copy(update={"tools": [tool]}))
    assert with_tools > plain + 60
    assert estimate_prompt_tokens(request(), "anthropic") > plain


def test_no_caps_means_no_change() -> None:
    verdict = preflight(request(max_tokens=500), None, Caps(), Spent())
    assert verdict.allowed and verdict.max_tokens == 500


def test_max_tokens_is_lowered_to_what_the_remaining_budget_can_pay() -> None:
    # Prompt ~1001 tokens at $1/M = ~$0.001; $0.011 leaves ~$0.01 = ~1000 output tokens at $10/M.
    verdict = preflight(request(max_tokens=4000), PRICE, Caps(per_call=0.011), Spent())
    assert verdict.allowed and 990 <= verdict.max_tokens <= 1000
    assert verdict.scope == "call" and "lowered" in verdict.reason
    roomy = preflight(request(max_tokens=100), PRICE, Caps(per_call=0.011), Spent())
    assert roomy.allowed and roomy.max_tokens == 100


def test_a_day_already_spent_refuses_with_one_line() -> None:
    verdict = preflight(request(), PRICE, Caps(per_day=2.0), Spent(day=2.0))
    assert not verdict.allowed and verdict.scope == "day"
    assert verdict.reason == "per-day cap of $2.00 already reached ($2.00 spent)"


def test_a_budget_too_small_for_the_prompt_is_refused() -> None:
    verdict = preflight(request(), PRICE, Caps(per_turn=0.5), Spent(turn=0.4995))
    assert not verdict.allowed and "not enough for the prompt" in verdict.reason


def test_unknown_price_with_a_cap_is_refused_with_the_price_hint() -> None:
    hint = 'set a price under [models."openai:x"] in config.toml'
    verdict = preflight(request(), None, Caps(per_call=1.0), Spent(), price_hint=hint)
    assert not verdict.allowed
    assert "no price known for m" in verdict.reason and hint in verdict.reason
