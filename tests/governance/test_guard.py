from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from opscopilot.events import BudgetCutoff, BudgetWarning
from opscopilot.governance import Caps, Ledger, Spent, guard_stream
from opscopilot.llm.providers import open_provider
from opscopilot.llm.types import (
    Finish,
    Message,
    Price,
    Request,
    ResponseBuilder,
    StreamEvent,
    TextDelta,
    Usage,
    UsageUpdate,
)
from tests.support.wire_server import Reply, WireServer

pytestmark = pytest.mark.anyio

PRICE = Price(input=0.0, output=10.0)  # one 4-character token = $0.00001


class Upstream:
    """An async generator of deltas that notes whether, and when, it was closed."""

    def __init__(self, deltas: list[str], usage: Usage | None = None) -> None:
        self.deltas = deltas
        self.usage = usage
        self.sent = 0
        self.closed = False

    async def events(self) -> AsyncIterator[StreamEvent]:
        try:
            for text in self.deltas:
                self.sent += 1
                yield TextDelta(text)
            if self.usage is not None:
                yield UsageUpdate(self.usage)
            yield Finish("stop")
        finally:
            self.closed = True


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


async def test_crossing_a_cap_closes_upstream_at_once_and_ends_with_a_budget_error(
    tmp_path: Path,
) -> None:
    upstream = Upstream(["abcd"] * 10_000)
    published: list[object] = []
    with Ledger(tmp_path / "db.sqlite") as ledger:
        events = await collect(
            guard_stream(
                upstream.events(),
                price=PRICE,
                caps=Caps(per_call=0.001),
                spent_before=Spent(),
                provider="openai",
                model="m",
                ledger=ledger,
                call_id="c1",
                session_id="s",
                turn_id="t",
                publish=published.append,
            )
        )
        row = ledger.get("c1")
    assert upstream.closed and upstream.sent == 101  # 100 tokens = $0.001; the 101st crosses
    texts = [e for e in events if e.type == "text"]
    assert len(texts) == 101  # everything yielded stays yielded
    assert events[-2] == UsageUpdate(Usage(output_tokens=101))
    assert events[-1].type == "error" and events[-1].error.kind == "budget"
    assert events[-1].error.message == "cut off at $0.00101 of $0.001 cap (per-call)"
    assert row is not None and row.cost_usd == pytest.approx(0.00101) and row.estimated
    builder = ResponseBuilder("openai", "m")
    for event in events:
        builder.add(event)
    response = builder.build(price=PRICE)
    assert response.finish_reason == "budget" and response.cost_usd == pytest.approx(row.cost_usd)
    cutoffs = [e for e in published if isinstance(e, BudgetCutoff)]
    warnings = [e for e in published if isinstance(e, BudgetWarning)]
    assert len(cutoffs) == 1 and cutoffs[0].scope == "call" and cutoffs[0].call_id == "c1"
    assert len(warnings) == 1 and warnings[0].spent_usd == pytest.approx(0.0008)


async def test_the_day_cap_counts_what_the_day_spent_before() -> None:
    upstream = Upstream(["abcd"] * 1000)
    events = await collect(
        guard_stream(
            upstream.events(),
            price=PRICE,
            caps=Caps(per_day=1.0),
            spent_before=Spent(day=0.9995),
        )
    )
    assert upstream.sent == 51
    assert "(per-day)" in str(events[-1].error)


async def test_the_providers_usage_replaces_the_estimate_and_is_recorded_as_final(
    tmp_path: Path,
) -> None:
    upstream = Upstream(["abcd"] * 10, usage=Usage(input_tokens=7, output_tokens=12))
    with Ledger(tmp_path / "db.sqlite") as ledger:
        events = await collect(
            guard_stream(
                upstream.events(),
                price=PRICE,
                caps=Caps(per_call=1.0),
                spent_before=Spent(),
                prompt_tokens=5,
                provider="openai",
                model="m",
                ledger=ledger,
                call_id="c1",
            )
        )
        row = ledger.get("c1")
    assert events[-1] == Finish("stop")
    assert row is not None and not row.estimated
    assert row.usage == Usage(input_tokens=7, output_tokens=12)


async def test_a_stream_without_provider_usage_reports_and_records_the_estimate(
    tmp_path: Path,
) -> None:
    upstream = Upstream(["abcd"] * 10)
    with Ledger(tmp_path / "db.sqlite") as ledger:
        events = await collect(
            guard_stream(
                upstream.events(),
                price=PRICE,
                caps=Caps(),
                spent_before=Spent(),
                prompt_tokens=5,
                provider="openai",
                model="m",
                ledger=ledger,
                call_id="c1",
            )
        )
        row = ledger.get("c1")
    assert events[-2] == UsageUpdate(Usage(input_tokens=5, output_tokens=10))
    assert row is not None and row.estimated and row.usage.output_tokens == 10


async def test_a_consumer_that_stops_early_still_closes_upstream_and_records(
    tmp_path: Path,
) -> None:
    upstream = Upstream(["abcd"] * 100)
    with Ledger(tmp_path / "db.sqlite") as ledger:
        guarded = guard_stream(
            upstream.events(),
            price=PRICE,
            caps=Caps(),
            spent_before=Spent(),
            provider="openai",
            model="m",
            ledger=ledger,
            call_id="c1",
        )
        async for event in guarded:
            if event.type == "text":
                break
        await guarded.aclose()
        assert upstream.closed
        assert ledger.spent("call", "c1") == pytest.approx(0.00001)


def openai_sse_tokens(count: int) -> bytes:
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"tok "}}]}\n\n'
    for _ in range(count):
        yield chunk
    yield b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'


async def test_over_real_http_the_cut_off_closes_the_connection(
    wire_server: WireServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000000000")
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    total_tokens = 100_000
    wire_server.expect(
        "/v1/chat/completions", Reply(body=openai_sse_tokens(total_tokens), delay_s=0.0002)
    )
    request = Request(model="test-model", messages=[Message.user("hi")])
    async with httpx.AsyncClient() as http:
        provider = open_provider("openai", http)
        with Ledger(tmp_path / "db.sqlite") as ledger:
            events = await collect(
                guard_stream(
                    provider.stream(request),
                    price=PRICE,
                    caps=Caps(per_call=0.01),
                    spent_before=Spent(),
                    provider="openai",
                    model="test-model",
                    ledger=ledger,
                    call_id="c1",
                )
            )
            cost = ledger.spent("call", "c1")
    assert events[-1].type == "error" and events[-1].error.kind == "budget"
    assert 0.01 < cost <= 0.01 + 0.00002  # within one event (one token) of the cap
    delivery = wire_server.deliveries[0]
    await anyio.to_thread.run_sync(delivery.finished.wait, 10)
    assert delivery.closed_early
    assert delivery.bytes_sent < total_tokens * 60 / 20


async def test_concurrent_calls_of_one_session_share_its_cap(tmp_path: Path) -> None:
    class Slow(Upstream):
        async def events(self) -> AsyncIterator[StreamEvent]:
            try:
                for text in self.deltas:
                    self.sent += 1
                    yield TextDelta(text)
                    await anyio.sleep(0.001)
                yield Finish("stop")
            finally:
                self.closed = True

    caps = Caps(per_session=0.004)  # 400 tokens between them; each streams 300 if left alone
    upstreams = [Slow(["abcd"] * 300), Slow(["abcd"] * 300)]
    results: dict[str, list[StreamEvent]] = {}
    with Ledger(tmp_path / "db.sqlite") as ledger:

        async def call(call_id: str, upstream: Upstream) -> None:
            results[call_id] = await collect(
                guard_stream(
                    upstream.events(),
                    price=PRICE,
                    caps=caps,
                    spent_before=Spent(),
                    provider="openai",
                    model="m",
                    ledger=ledger,
                    call_id=call_id,
                    session_id="s",
                    ledger_interval_s=0.01,
                    refresh_spent=lambda: ledger.spent_before(
                        session_id="s", turn_id=None, exclude_call=call_id
                    ),
                )
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "a", upstreams[0])
            tg.start_soon(call, "b", upstreams[1])
        total = ledger.spent("session", "s")
    assert any(r[-1].type == "error" and r[-1].error.kind == "budget" for r in results.values())
    assert sum(u.sent for u in upstreams) < 600
    assert total <= 0.004 + 0.0005  # at most one refresh interval of overshoot per call


async def test_a_running_call_cancelled_through_the_scheduler_is_cut_off_and_closed() -> None:
    from opscopilot.governance import Scheduler

    scheduler = Scheduler(2)
    upstream = Upstream(["abcd"] * 1000)
    events: list[StreamEvent] = []
    async with scheduler.slot("openai") as ticket:
        async for event in guard_stream(
            upstream.events(), price=PRICE, caps=Caps(), spent_before=Spent(), ticket=ticket
        ):
            events.append(event)
            if len(events) == 10:
                assert scheduler.cancel(ticket_id=ticket.id) == 1
    assert upstream.closed and upstream.sent == 10
    assert events[-1].type == "error" and events[-1].error.kind == "cancelled"
