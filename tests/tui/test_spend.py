"""The meters' arithmetic, folded from events."""

from __future__ import annotations

from opscopilot import events as ev
from opscopilot.tui.spend import QueueTracker, SpendTracker, level_for


def _ids(turn: str) -> dict:
    return {"ts": 100.0, "session_id": "s1", "turn_id": turn}


def test_levels_follow_the_warn_fraction_and_the_cap():
    assert level_for(0.1, None, 0.8) == "none"
    assert level_for(0.79, 1.0, 0.8) == "ok"
    assert level_for(0.8, 1.0, 0.8) == "warn"
    assert level_for(1.0, 1.0, 0.8) == "over"


def test_spend_sums_calls_by_turn_and_session_and_reconciles_estimates():
    tracker = SpendTracker(caps={"turn": 0.01}, spent_today_before=0.5)
    for event in [
        ev.ModelCallStarted(**_ids("t1"), call_id="c1", provider="openai", model="m"),
        ev.ModelUsage(**_ids("t1"), call_id="c1", usage={}, cost_usd=0.004, estimated=True),
        ev.ModelFinished(
            **_ids("t1"),
            call_id="c1",
            provider="openai",
            model="m",
            finish_reason="stop",
            cost_usd=0.003,
        ),  # the provider's figure wins
        ev.ModelCallStarted(**_ids("t2"), call_id="c2", provider="openai", model="m"),
        ev.ModelUsage(**_ids("t2"), call_id="c2", usage={}, cost_usd=0.009),
    ]:
        tracker.ingest(event)
    readings = {r.scope: r for r in tracker.readings("s1")}
    assert readings["call"].spent_usd == 0.009
    assert readings["turn"].spent_usd == 0.009 and readings["turn"].level == "warn"
    assert round(readings["session"].spent_usd, 6) == 0.012
    assert round(readings["day"].spent_usd, 6) == 0.512
    assert not readings["session"].simulated
    tracker.ingest(
        ev.SchedulerMetrics(ts=1, in_flight=0, queued=0, capacity=4, spend={"day": (2.0, 1.5)})
    )
    day = {r.scope: r for r in tracker.readings("s1")}["day"]
    assert (day.spent_usd, day.cap_usd, day.level) == (2.0, 1.5, "over")


def test_builtin_calls_are_marked_simulated():
    tracker = SpendTracker()
    tracker.ingest(
        ev.ModelFinished(
            **_ids("t1"),
            call_id="c",
            provider="builtin",
            model="ops",
            finish_reason="stop",
            cost_usd=0.001,
            cost_simulated=True,
        )
    )
    assert all(r.simulated for r in tracker.readings("s1"))


def test_cooldowns_count_down_from_when_the_metrics_were_taken():
    queue = QueueTracker()
    assert queue.reading(0) is None
    queue.ingest(
        ev.SchedulerMetrics(
            ts=100.0, in_flight=2, queued=5, capacity=2, cooldowns={"openai": 30.0, "gemini": 2.0}
        )
    )
    reading = queue.reading(110.0)
    assert reading.cooldowns == {"openai": 20.0}  # gemini's ended
    assert (reading.in_flight, reading.queued, reading.capacity) == (2, 5, 2)


def test_today_never_falls_behind_calls_made_after_the_last_metrics_event():
    tracker = SpendTracker(spent_today_before=0.0)
    tracker.ingest(
        ev.SchedulerMetrics(ts=1, in_flight=1, queued=0, capacity=8, spend={"day": (0.001, None)})
    )
    tracker.ingest(
        ev.ModelFinished(
            ts=2,
            session_id="s1",
            turn_id="t1",
            call_id="c1",
            provider="builtin",
            model="ops",
            finish_reason="stop",
            cost_usd=0.001,
        )
    )
    tracker.ingest(
        ev.ModelFinished(
            ts=3,
            session_id="s1",
            turn_id="t1",
            call_id="c2",
            provider="builtin",
            model="ops",
            finish_reason="stop",
            cost_usd=0.0012,
        )
    )
    day = {r.scope: r for r in tracker.readings("s1")}["day"]
    assert round(day.spent_usd, 6) == 0.0022


def test_a_call_with_no_known_price_reads_unknown_never_zero():
    from opscopilot.tui.widgets.meters import format_reading

    tracker = SpendTracker()
    for event in [
        ev.ModelCallStarted(**_ids("t1"), call_id="c1", provider="vllm", model="m"),
        ev.ModelFinished(
            **_ids("t1"),
            call_id="c1",
            provider="vllm",
            model="m",
            finish_reason="stop",
            usage={"input_tokens": 100, "output_tokens": 20},
            cost_usd=None,
        ),
    ]:
        tracker.ingest(event)
    readings = {r.scope: r for r in tracker.readings("s1")}
    assert readings["call"].unknown and readings["session"].unknown
    assert format_reading(readings["turn"]) == "turn unknown"
    for event in [
        ev.ModelCallStarted(**_ids("t1"), call_id="c2", provider="openai", model="m"),
        ev.ModelFinished(
            **_ids("t1"),
            call_id="c2",
            provider="openai",
            model="m",
            finish_reason="stop",
            usage={"input_tokens": 100, "output_tokens": 20},
            cost_usd=0.0021,
        ),
    ]:
        tracker.ingest(event)
    readings = {r.scope: r for r in tracker.readings("s1")}
    assert format_reading(readings["call"]) == "call $0.0021"
    assert format_reading(readings["turn"]) == "turn $0.0021+unknown"


def test_spend_redrawn_from_the_store_is_not_counted_into_today_twice() -> None:
    tracker = SpendTracker(spent_today_before=0.50)  # the ledger already holds the old call
    ids = {"ts": 1.0, "session_id": "s1", "turn_id": "t1"}
    tracker.ingest(
        ev.ModelFinished(
            **ids, call_id="c1", provider="openai", model="m", finish_reason="stop", cost_usd=0.5
        ),
        stored=True,
    )
    assert tracker.day_spent() == 0.50
    readings = {r.scope: r.spent_usd for r in tracker.readings("s1")}
    assert readings["session"] == 0.5  # the session still shows what it cost
    tracker.ingest(
        ev.ModelFinished(
            **(ids | {"turn_id": "t2"}),
            call_id="c2",
            provider="openai",
            model="m",
            finish_reason="stop",
            cost_usd=0.25,
        )
    )
    assert tracker.day_spent() == 0.75
