from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from opscopilot.events import SchedulerMetrics
from opscopilot.governance import (
    Caps,
    GovernanceError,
    Governor,
    Ledger,
    Scheduler,
    SchedulerLimits,
    publish_metrics,
)
from opscopilot.llm.providers import open_provider
from opscopilot.llm.types import (
    LLMError,
    Message,
    Price,
    Request,
    StreamEvent,
    TextDelta,
    Usage,
)
from tests.support.wire_server import RecordedRequest, Reply, WireServer, json_reply, sse

pytestmark = pytest.mark.anyio


class Probe:
    """Counts what runs at once inside the scheduler."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.running = 0
        self.max_running = 0
        self.max_queued = 0
        self.done: list[int] = []
        self.refused: list[tuple[int, int]] = []  # (call, calls done when refused)
        self.started: list[str] = []

    async def call(
        self, n: int, provider: str = "openai", priority: str = "interactive", hold_s: float = 0.2
    ) -> None:
        try:
            async with self.scheduler.slot(provider, priority):  # type: ignore[arg-type]
                self.started.append(f"{provider}:{n}")
                self.running += 1
                self.max_running = max(self.max_running, self.running)
                self.max_queued = max(self.max_queued, self.scheduler.queued)
                await anyio.sleep(hold_s)
                self.running -= 1
                self.done.append(n)
        except GovernanceError as exc:
            assert exc.kind == "queue_full" and "queue is full" in exc.message
            self.refused.append((n, len(self.done)))


async def test_200_calls_with_8_running_and_50_queued_refuse_142_at_once() -> None:
    scheduler = Scheduler(8, max_queue=50)
    probe = Probe(scheduler)
    async with anyio.create_task_group() as tg:
        for n in range(200):
            tg.start_soon(probe.call, n, "openai", "interactive", 0.1)
        await anyio.sleep(0.05)
        assert (scheduler.in_flight, scheduler.queued) == (8, 50)
    assert probe.max_running == 8
    assert len(probe.refused) == 142
    assert all(done_then == 0 for _, done_then in probe.refused)  # refused before anything ended
    assert sorted(probe.done) == list(range(58))  # every accepted call completed, once
    assert scheduler.completed == 58 and scheduler.refused == 142
    assert (scheduler.in_flight, scheduler.queued) == (0, 0)


async def test_interactive_work_goes_ahead_of_batch() -> None:
    scheduler = Scheduler(1, max_queue=10)
    probe = Probe(scheduler)
    release = anyio.Event()

    async def holder() -> None:  # the one slot stays taken until everyone is queued
        async with scheduler.slot("openai", "batch"):
            probe.started.append("openai:0")
            await release.wait()

    async def until(condition) -> None:
        while not condition():
            await anyio.sleep(0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await until(lambda: scheduler.in_flight == 1)
        for n in (1, 2):
            tg.start_soon(probe.call, n, "openai", "batch", 0.0)
        await until(lambda: scheduler.queued == 2)
        tg.start_soon(probe.call, 3, "openai", "interactive", 0.0)
        await until(lambda: scheduler.queued == 3)
        release.set()
    assert probe.started == ["openai:0", "openai:3", "openai:1", "openai:2"]


async def test_a_per_provider_limit_does_not_hold_up_other_providers() -> None:
    scheduler = Scheduler(8, per_provider={"openai": 2}, max_queue=10)
    probe = Probe(scheduler)
    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(probe.call, n, "openai", "interactive", 0.1)
        for n in range(3):
            tg.start_soon(probe.call, n, "anthropic", "interactive", 0.1)
        await anyio.sleep(0.03)
        assert scheduler.in_flight == 5 and scheduler.queued == 3
    assert len(probe.done) == 8


async def test_cancelling_queued_and_running_calls_frees_their_places() -> None:
    scheduler = Scheduler(1, max_queue=5)
    outcomes: list[str] = []

    async def queued_call() -> None:
        try:
            async with scheduler.slot("openai"):
                outcomes.append("ran")
        except GovernanceError as exc:
            outcomes.append(exc.kind)

    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as running_scope:
            tg.start_soon(queued_call)  # queued behind the holder below
            async with scheduler.slot("openai"):
                await anyio.sleep(0.02)
                assert scheduler.queued == 1
                assert scheduler.cancel(provider="openai") == 2  # the waiter and this holder
                await anyio.sleep(0.02)
                assert scheduler.queued == 0 and outcomes == ["cancelled"]
                running_scope.cancel()  # anyio cancellation of a running call
                await anyio.sleep(1)
    assert scheduler.in_flight == 0 and scheduler.queued == 0

    async with scheduler.slot("openai"):
        with anyio.move_on_after(0.05):  # a queued call whose caller gives up
            async with scheduler.slot("openai"):
                pytest.fail("must not start while the slot is held")
        assert scheduler.queued == 0


def test_limits_come_from_config_toml(isolated_home: Path) -> None:
    (isolated_home / "config.toml").write_text(
        "[scheduler]\nmax_concurrency = 3\nmax_queue = 7\nper_provider = {openai = 2}\n"
    )
    assert SchedulerLimits.from_config() == SchedulerLimits(3, 7, {"openai": 2})
    (isolated_home / "config.toml").write_text("[scheduler]\nmax_concurrency = 0\n")
    from opscopilot import config

    config._cached_config.cache_clear()
    with pytest.raises(GovernanceError, match="max_concurrency must be a whole number"):
        SchedulerLimits.from_config()


def openai_reply(text: str) -> Reply:
    return Reply(
        body=sse(
            {"choices": [{"index": 0, "delta": {"content": text}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
            "[DONE]",
        )
    )


async def test_after_a_429_with_retry_after_2_that_provider_waits_while_others_proceed(
    wire_server: WireServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000000000")
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("VLLM_BASE_URL", wire_server.url + "/vllm/v1")
    arrivals: dict[str, list[float]] = {"openai": [], "vllm": []}

    def answer(provider: str, text: str):
        def handler(request: RecordedRequest) -> Reply:
            arrivals[provider].append(time.monotonic())
            return openai_reply(text)

        return handler

    wire_server.expect(
        "/v1/chat/completions",
        json_reply(
            429,
            {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
            {"retry-after": "2"},
        ),
    )
    wire_server.handle("/v1/chat/completions", answer("openai", "hello"))
    wire_server.handle("/vllm/v1/chat/completions", answer("vllm", "hi"))
    request = Request(model="test-model", messages=[Message.user("hi")])
    price = Price(input=1.0, output=1.0)
    governor = Governor(Ledger(tmp_path / "db.sqlite"), Caps(per_day=10.0), Scheduler(8))
    texts: dict[str, str] = {}

    async with httpx.AsyncClient() as http:

        async def call(provider_name: str, call_id: str) -> None:
            provider = open_provider(provider_name, http)
            events = governor.stream(
                provider.stream, request, provider=provider_name, price=price, call_id=call_id
            )
            texts[call_id] = "".join([e.text async for e in events if isinstance(e, TextDelta)])

        with pytest.raises(LLMError) as info:
            await call("openai", "first")
        limited_at = time.monotonic()
        assert info.value.kind == "rate_limit" and info.value.retry_after == 2
        assert 1.5 < governor.scheduler.cooldowns()["openai"] <= 2.0
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "openai", "second")
            tg.start_soon(call, "vllm", "other")
            await anyio.sleep(0.5)
            assert governor.scheduler.queued == 1  # the openai call waits its turn
    assert arrivals["openai"][0] - limited_at >= 1.9
    assert arrivals["vllm"][0] - limited_at < 1.0
    assert texts == {"second": "hello", "other": "hi"}
    assert governor.ledger.spent("call", "second") == pytest.approx(5 / 1e6)
    governor.close()


async def test_metrics_report_queue_rates_cooldowns_and_spend(tmp_path: Path) -> None:
    scheduler = Scheduler(2, max_queue=5)
    scheduler.cooldown("anthropic", 30)
    scheduler.meter.add(100, 0.01)
    published: list[SchedulerMetrics] = []
    with Ledger(tmp_path / "db.sqlite") as ledger:
        ledger.record(
            "c",
            session_id="s1",
            turn_id="t1",
            provider="openai",
            model="m",
            usage=Usage(),
            cost_usd=0.25,
            estimated=False,
        )

        entered, release = anyio.Event(), anyio.Event()
        publishing = anyio.CancelScope()

        async def hold() -> None:
            async with scheduler.slot("openai"):
                entered.set()
                await release.wait()

        def publish(metrics: SchedulerMetrics) -> None:
            published.append(metrics)
            if len(published) == 2:  # two reports came: enough, whatever the clock did
                release.set()
                publishing.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold)
            await entered.wait()
            with publishing:
                await publish_metrics(
                    scheduler,
                    publish,
                    ledger=ledger,
                    caps=Caps(per_day=1.0, per_session=0.5),
                    scope_keys=lambda: {"session_id": "s1"},
                    interval_s=0.05,
                )
    assert len(published) == 2
    snapshot = published[0]
    assert (snapshot.in_flight, snapshot.queued, snapshot.capacity) == (1, 0, 2)
    assert snapshot.tokens_per_s == pytest.approx(20.0)  # 100 tokens over a 5 s window
    assert snapshot.usd_per_min == pytest.approx(0.01)
    assert 29 < snapshot.cooldowns["anthropic"] <= 30
    assert snapshot.spend["session"] == (pytest.approx(0.25), 0.5)
    assert snapshot.spend["day"] == (pytest.approx(0.25), 1.0)


async def _never(request: Request) -> AsyncIterator[StreamEvent]:
    raise AssertionError("a refused call must not reach the provider")
    yield  # pragma: no cover


async def test_the_governor_refuses_a_call_the_day_cannot_pay_for(tmp_path: Path) -> None:
    published: list[object] = []
    ledger = Ledger(tmp_path / "db.sqlite")
    ledger.record(
        "old",
        session_id=None,
        turn_id=None,
        provider="openai",
        model="m",
        usage=Usage(),
        cost_usd=1.0,
        estimated=False,
    )
    governor = Governor(ledger, Caps(per_day=1.0), Scheduler(2), published.append)
    request = Request(model="m", messages=[Message.user("hi")])
    events = [
        e
        async for e in governor.stream(
            _never, request, provider="openai", price=Price(input=1, output=1), call_id="c"
        )
    ]
    assert len(events) == 1 and events[0].error.kind == "budget"
    assert "per-day cap of $1.00 already reached" in events[0].error.message
    assert {type(e).__name__ for e in published} == {"BudgetCutoff", "Notice"}
    governor.close()


async def test_a_full_queue_reaches_the_caller_as_a_non_retryable_overloaded_error(
    tmp_path: Path,
) -> None:
    governor = Governor(Ledger(tmp_path / "db.sqlite"), Caps(), Scheduler(1, max_queue=0))
    request = Request(model="m", messages=[Message.user("hi")])
    async with governor.scheduler.slot("openai"):
        events = [
            e
            async for e in governor.stream(
                _never, request, provider="openai", price=None, call_id="c"
            )
        ]
    (error,) = events
    assert error.error.kind == "overloaded" and not error.error.retryable
    assert "the model queue is full (1 running, 0 waiting, limit 0)" in error.error.message
    governor.close()
