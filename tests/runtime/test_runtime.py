"""The runtime in-process against a real loopback server, real tools and a real SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from opscopilot import config
from opscopilot.runtime import Runtime
from opscopilot.runtime.persist import PersistFilter
from opscopilot.store import Store
from tests.support.wire_server import RecordedRequest, Reply

from .support import (
    CHAT_PATH,
    TEST_KEY,
    text_reply,
    tool_call_reply,
    tool_results,
    write_config,
)

MODEL = "openai:gpt-4o-mini"


@pytest.fixture
def openai_env(wire_server, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    return wire_server


def _reply_after_tools(first: Reply, answer: str = "Done.") -> Any:
    def handler(request: RecordedRequest) -> Reply:
        return text_reply(answer) if tool_results(request) else first

    return handler


def _run(coro_factory: Any) -> Any:
    return anyio.run(coro_factory)


def test_a_read_call_runs_and_every_event_reaches_the_bus_and_the_store(
    openai_env, isolated_home: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("disk is 91% full\n")
    openai_env.handle(
        CHAT_PATH,
        _reply_after_tools(
            tool_call_reply(("call_r", "read_file", {"path": str(notes)})), "The disk is 91% full."
        ),
    )

    async def main() -> Any:
        with Store.open() as store:
            runtime = Runtime(store)
            subscription = runtime.bus.subscribe()
            outcome = await runtime.start_turn(None, "how full is the disk?", model=MODEL)
            await runtime.aclose()
            seen = subscription.drain()
            stored = [e for _, e in store.events(turn_id=outcome.turn_id)]
            snapshot = store.load_snapshot(outcome.turn_id)
            turn = store.get_turn(outcome.turn_id)
            return outcome, seen, stored, snapshot, turn

    outcome, seen, stored, snapshot, turn = _run(main)
    assert outcome.status == "completed" and outcome.exit_code == 0
    assert outcome.text == "The disk is 91% full."
    assert outcome.tool_calls[0].status == "ok"
    kinds = [e.type for e in seen]
    for expected in (
        "session.started",
        "turn.started",
        "model.started",
        "model.tool_call",
        "tool.proposed",
        "tool.started",
        "tool.finished",
        "model.text",
        "model.finished",
        "turn.finished",
    ):
        assert expected in kinds, expected
    assert kinds.index("tool.started") < kinds.index("tool.finished") < kinds.index("turn.finished")
    # The store keeps the bus's events, streamed text joined into redacted chunks.
    persist = PersistFilter()
    persisted = [p for e in seen for p in persist.feed(e)] + persist.flush()
    assert [e.type for e in stored if e.turn_id] == [e.type for e in persisted if e.turn_id]
    assert "".join(e.text for e in stored if e.type == "model.text") == "".join(
        e.text for e in seen if e.type == "model.text"
    )
    assert snapshot is not None and snapshot["status"] == "completed"
    assert turn is not None and turn.status == "completed" and turn.usage.input_tokens > 0
    second = openai_env.requests_to(CHAT_PATH)[-1].json()
    assert "disk is 91% full" in tool_results(openai_env.requests_to(CHAT_PATH)[-1])[0]["content"]
    assert second["tools"], "the model is offered the tools"


@pytest.mark.parametrize("mode", ["ask", "read-only"])
def test_injection_through_tool_arguments_never_runs(
    openai_env, isolated_home: Path, tmp_path: Path, mode: str
) -> None:
    canary = tmp_path / "canary"
    attempts = [
        f"ls ; touch {canary}",
        f"echo $(touch {canary})",
        f"echo `touch {canary}`",
        f"ls\ntouch {canary}",
        f"ls && touch {canary}",
        f"cat /etc/hostname | tee {canary}",
    ]
    calls = tuple((f"call_{i}", "run_command", {"command": c}) for i, c in enumerate(attempts))
    openai_env.handle(CHAT_PATH, _reply_after_tools(tool_call_reply(*calls), "Nothing ran."))

    async def main() -> Any:
        with Store.open() as store:
            runtime = Runtime(store)
            outcome = await runtime.start_turn(None, "clean up", model=MODEL, approve_mode=mode)
            if outcome.status == "awaiting_approval":
                for approval_id in outcome.pending_approvals:
                    await runtime.decide(approval_id, "denied", operator="test", reason="no")
                outcome = await runtime.resume(outcome.turn_id)
            await runtime.aclose()
            return outcome

    outcome = _run(main)
    assert not canary.exists()
    assert outcome.status == "completed"
    assert all(c.status == "denied" for c in outcome.tool_calls)


def test_a_turn_waiting_in_process_continues_when_the_operator_decides(
    openai_env, isolated_home: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.log"
    write_config(isolated_home, audit)
    config._cached_config.cache_clear()
    openai_env.handle(
        CHAT_PATH, _reply_after_tools(tool_call_reply(("call_w", "append_line", {"text": "tui"})))
    )

    async def main() -> Any:
        with Store.open() as store:
            runtime = Runtime(store)
            subscription = runtime.bus.subscribe()
            result: dict[str, Any] = {}

            async def drive() -> None:
                result["outcome"] = await runtime.start_turn(
                    None, "append", model=MODEL, wait_for_approval=True
                )

            async with anyio.create_task_group() as group:
                group.start_soon(drive)
                async for event in subscription:
                    if event.type == "approval.requested":
                        await runtime.decide(event.approval_id, "approved", operator="carol")
                    if event.type == "turn.finished":
                        break
            await runtime.aclose()
            return result["outcome"]

    outcome = _run(main)
    assert outcome.status == "completed"
    assert audit.read_text() == "tui\n"


def test_a_pending_approval_past_its_deadline_becomes_a_denial_that_says_it_expired(
    openai_env, isolated_home: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.log"
    write_config(isolated_home, audit, extra="\n[approvals]\nexpire_after_s = 60\n")
    config._cached_config.cache_clear()
    openai_env.handle(
        CHAT_PATH,
        _reply_after_tools(
            tool_call_reply(("call_w", "append_line", {"text": "late"})), "It expired."
        ),
    )
    clock = [1_000_000.0]

    async def main() -> Any:
        with Store.open() as store:
            runtime = Runtime(store, clock=lambda: clock[0])
            paused = await runtime.start_turn(None, "append", model=MODEL)
            clock[0] += 120
            outcome = await runtime.resume(paused.turn_id)
            record = store.get_approval(paused.pending_approvals[0])
            await runtime.aclose()
            return paused, outcome, record

    paused, outcome, record = _run(main)
    assert paused.status == "awaiting_approval"
    assert outcome.status == "completed" and outcome.tool_calls[0].status == "denied"
    assert record.status == "expired"
    last = tool_results(openai_env.requests_to(CHAT_PATH)[-1])[-1]["content"]
    assert "expired" in last
    assert not audit.exists()


def test_cancel_stops_a_live_turn_mid_stream(openai_env, isolated_home: Path) -> None:
    openai_env.handle(CHAT_PATH, lambda request: text_reply("word " * 400, delay_s=0.01))

    async def main() -> Any:
        with Store.open() as store:
            runtime = Runtime(store)
            subscription = runtime.bus.subscribe()
            result: dict[str, Any] = {}

            async def drive() -> None:
                result["outcome"] = await runtime.start_turn(None, "talk", model=MODEL)

            async with anyio.create_task_group() as group:
                group.start_soon(drive)
                async for event in subscription:
                    if event.type == "model.text":
                        await runtime.cancel(event.turn_id)
                        break
            await runtime.aclose()
            return result["outcome"], store.get_turn(result["outcome"].turn_id)

    outcome, turn = _run(main)
    assert outcome.status == "cancelled" and outcome.exit_code == 1
    assert turn.status == "cancelled"


def test_max_cost_refusal_ends_the_turn_cut_off(openai_env, isolated_home: Path) -> None:
    openai_env.handle(CHAT_PATH, lambda request: text_reply("never sent"))

    async def main() -> Any:
        with Store.open() as store:
            runtime = Runtime(store)
            outcome = await runtime.start_turn(None, "hello", model=MODEL, max_cost=1e-9)
            await runtime.aclose()
            return outcome

    outcome = _run(main)
    assert outcome.status == "cut_off" and outcome.exit_code == 4
    assert outcome.error is not None and outcome.error.kind == "budget"
