"""LLMClient: retries, backoff, fallback and the no-retry-after-output rule, over real HTTP."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opscopilot.llm import catalog
from opscopilot.llm.client import LLMClient, RetryPolicy, default_client
from opscopilot.llm.types import Attempt, LLMError, Message, ModelSpec, Request, StreamError
from tests.llm.streaming import ANTHROPIC_KEY, OPENAI_KEY
from tests.llm.test_anthropic import text_reply as anthropic_text
from tests.llm.test_openai import chunk, text_stream
from tests.support.wire_server import Reply, json_reply, sse

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"


@pytest.fixture
def providers(wire_server, monkeypatch):
    """Both real adapters, resolved from the environment, pointed at the loopback server."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"{wire_server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", wire_server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    return wire_server


class Recorder:
    """An injected sleep that records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(policy: RetryPolicy | None = None, rand: float = 1.0) -> tuple[LLMClient, Recorder]:
    sleep = Recorder()
    return LLMClient(policy=policy or RetryPolicy(), sleep=sleep, rand=lambda: rand), sleep


def run_stream(client: LLMClient, chain: str, request: Request | None = None) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return [item async for item in client.stream(chain, request or ask())]
        finally:
            await client.aclose()

    return anyio.run(go)


def ask() -> Request:
    return Request(model="ignored", messages=[Message.user("status of the fleet?")])


def attempts(items: list[Any]) -> list[tuple[str, int, int, float]]:
    return [
        (a.provider, a.attempt, a.chain_index, a.delay_s) for a in items if isinstance(a, Attempt)
    ]


def text_of(items: list[Any]) -> str:
    return "".join(i.text for i in items if i.type == "text")


def test_a_429_with_retry_after_waits_at_least_that_long_then_succeeds(providers):
    providers.expect(
        OPENAI,
        json_reply(
            429,
            {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
            {"retry-after": "7"},
        ),
        Reply(body=text_stream("all ", "good")),
    )
    client, sleep = make_client()
    items = run_stream(client, "openai:gpt-4o-mini")
    assert sleep.delays == [7.0]  # the jittered backoff (<= 0.5 s) is below the server's floor
    assert attempts(items) == [("openai", 1, 0, 0.0), ("openai", 2, 0, 7.0)]
    retry = [a for a in items if isinstance(a, Attempt)][1]
    assert retry.is_retry and retry.reason is not None and retry.reason.startswith("rate_limit")
    assert text_of(items) == "all good" and items[-1].type == "finish"
    assert len(providers.requests_to(OPENAI)) == 2


def test_500s_are_retried_a_bounded_number_of_times_with_growing_delays(providers):
    failure = json_reply(500, {"error": {"message": "The server had an error"}})
    providers.expect(OPENAI, *[failure] * 6)
    client, sleep = make_client(RetryPolicy(max_attempts=4, base_delay_s=0.5, max_delay_s=1.5))
    items = run_stream(client, "openai:gpt-4o-mini")
    assert len(providers.requests_to(OPENAI)) == 4
    assert sleep.delays == [0.5, 1.0, 1.5]  # doubling, capped at max_delay_s
    assert isinstance(items[-1], StreamError) and items[-1].error.kind == "server"
    assert "\n" not in str(items[-1].error)


def test_a_retry_after_beyond_the_total_budget_gives_up_at_once(providers):
    providers.expect(
        OPENAI, json_reply(429, {"error": {"message": "later"}}, {"retry-after": "120"})
    )
    client, sleep = make_client(RetryPolicy(max_total_s=60))
    items = run_stream(client, "openai:gpt-4o-mini")
    assert sleep.delays == []
    assert isinstance(items[-1], StreamError) and items[-1].error.kind == "rate_limit"
    assert len(providers.requests_to(OPENAI)) == 1


def test_a_non_retryable_failure_falls_back_to_the_next_model_at_once(providers):
    providers.expect(
        OPENAI, json_reply(401, {"error": {"message": f"Incorrect API key provided: {OPENAI_KEY}"}})
    )
    providers.expect(ANTHROPIC, anthropic_text("from ", "claude"))
    client, sleep = make_client()
    items = run_stream(client, "openai:gpt-4o-mini,anthropic:claude-haiku-4-5")
    assert attempts(items) == [("openai", 1, 0, 0.0), ("anthropic", 1, 1, 0.0)]
    fallback = [a for a in items if isinstance(a, Attempt)][1]
    assert fallback.is_fallback and "auth" in (fallback.reason or "")
    assert OPENAI_KEY not in (fallback.reason or "")
    assert sleep.delays == [] and text_of(items) == "from claude"
    assert providers.requests_to(ANTHROPIC)[0].json()["model"] == "claude-haiku-4-5"


def test_a_model_that_exhausts_its_retries_falls_back_to_the_next(providers):
    overloaded = json_reply(503, {"error": {"message": "overloaded"}})
    providers.expect(OPENAI, overloaded, overloaded)
    providers.expect(ANTHROPIC, anthropic_text("fallback answer"))
    client, sleep = make_client(RetryPolicy(max_attempts=2, base_delay_s=0.25))
    items = run_stream(
        client,
        [ModelSpec.parse("openai:gpt-4o-mini"), ModelSpec.parse("anthropic:claude-haiku-4-5")],
    )
    assert attempts(items) == [
        ("openai", 1, 0, 0.0),
        ("openai", 2, 0, 0.25),
        ("anthropic", 1, 1, 0.0),
    ]
    assert sleep.delays == [0.25] and text_of(items) == "fallback answer"


def test_nothing_is_retried_once_output_reached_the_consumer(providers):
    body = sse(
        chunk({"content": "Half an "}), {"error": {"message": "boom", "type": "server_error"}}
    )
    providers.expect(OPENAI, Reply(body=body), Reply(body=text_stream("never sent")))
    providers.expect(ANTHROPIC, anthropic_text("never sent either"))
    client, sleep = make_client()
    items = run_stream(client, "openai:gpt-4o-mini,anthropic:claude-haiku-4-5")
    assert text_of(items) == "Half an "
    assert isinstance(items[-1], StreamError) and items[-1].error.kind == "server"
    assert len(providers.requests_to(OPENAI)) == 1 and providers.requests_to(ANTHROPIC) == []
    assert sleep.delays == []


def test_an_unknown_provider_in_a_chain_is_skipped_with_a_clear_reason(providers):
    providers.expect(OPENAI, Reply(body=text_stream("ok")))
    client, _ = make_client()
    items = run_stream(client, "nosuch:model,openai:gpt-4o-mini")
    fallback = [a for a in items if isinstance(a, Attempt)][1]
    assert "unknown provider 'nosuch'" in (fallback.reason or "") and text_of(items) == "ok"


def test_a_bad_chain_raises_before_anything_is_sent(providers):
    client, _ = make_client()
    with pytest.raises(LLMError) as info:
        run_stream(client, "gpt-4o-mini")
    assert info.value.kind == "bad_request" and providers.requests == []


def test_a_consumer_that_stops_early_closes_the_connection(providers):
    long_answer = text_stream(*["word " for _ in range(400)])
    providers.expect(OPENAI, Reply(body=long_answer, delay_s=0.002))
    client, _ = make_client()

    async def first_text_only() -> str:
        async with aclosing(client.stream("openai:gpt-4o-mini", ask())) as stream:
            async for item in stream:
                if item.type == "text":
                    return item.text
        return ""

    assert anyio.run(first_text_only) == "word "
    delivery = providers.deliveries[0]
    assert delivery.finished.wait(10)
    assert delivery.closed_early and delivery.bytes_sent < len(long_answer)


def test_complete_aggregates_and_prices_from_the_catalog(providers):
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    providers.expect(
        OPENAI, Reply(body=text_stream("priced", usage=usage)), Reply(body=text_stream("free?"))
    )
    client, _ = make_client()

    async def go() -> tuple[Any, Any]:
        async with client:
            known = await client.complete("openai:gpt-4o-mini", ask())
            unknown = await client.complete("openai:my-private-finetune", ask())
        return known, unknown

    known, unknown = anyio.run(go)
    price = catalog.price_for("openai:gpt-4o-mini")
    assert price is not None and known.cost_usd == pytest.approx(price.cost(known.usage))
    assert known.text == "priced" and known.provider == "openai" and known.error is None
    assert unknown.cost_usd is None  # unknown, never a silent 0


def test_complete_reports_the_failure_in_the_response(providers):
    providers.expect(
        OPENAI,
        json_reply(
            404, {"error": {"message": "The model does not exist", "code": "model_not_found"}}
        ),
    )
    client, _ = make_client()

    async def go() -> Any:
        async with client:
            return await client.complete("openai:gpt-nope", ask())

    response = anyio.run(go)
    assert response.finish_reason == "error"
    assert (
        response.error is not None
        and response.error.kind == "not_found"
        and not response.error.retryable
    )


def test_the_default_client_works_across_event_loops_with_real_sleep(providers):
    providers.expect(
        OPENAI,
        Reply(body=text_stream("one")),
        json_reply(502, {"error": {"message": "bad gateway"}}),
        Reply(body=text_stream("two")),
    )
    client = default_client()
    assert client is default_client()
    client.policy = RetryPolicy(base_delay_s=0.01)

    async def go() -> str:
        return text_of([i async for i in client.stream("openai:gpt-4o-mini", ask())])

    assert anyio.run(go) == "one"
    assert anyio.run(go) == "two"  # a new loop gets a new pool; the 502 was retried for real


@given(
    attempt=st.integers(1, 10),
    rand=st.floats(0, 1),
    retry_after=st.one_of(st.none(), st.floats(0, 100)),
    elapsed=st.floats(0, 100),
)
def test_backoff_is_bounded_honours_retry_after_and_the_total_budget(
    attempt, rand, retry_after, elapsed
):
    policy = RetryPolicy(max_attempts=11, base_delay_s=0.5, max_delay_s=20, max_total_s=60)
    error = LLMError("rate_limit", "limited", retry_after=retry_after)
    delay = policy.delay_before_retry(error, attempt, elapsed, rand)
    ceiling = min(20, 0.5 * 2 ** (attempt - 1))
    floor = retry_after or 0.0
    if elapsed + max(floor, ceiling * rand) > 60:
        assert delay is None
    else:
        assert delay is not None and delay >= floor and (delay <= ceiling or delay == floor)
    assert policy.delay_before_retry(LLMError("auth", "no"), attempt, 0, rand) is None
