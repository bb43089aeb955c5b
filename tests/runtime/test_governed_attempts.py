"""Each attempt of a turn's model call passes the governor on its own (governed_client): a 429
cools its provider down before the retry, and every attempt keeps its own ledger row."""

from __future__ import annotations

import json
from typing import Any

import anyio

from opscopilot import events as ev
from opscopilot.governance import Ledger, default_scheduler
from opscopilot.runtime import Runtime
from opscopilot.store import Store
from tests.support.wire_server import Reply

from .support import CHAT_PATH, TEST_KEY, text_reply

MODEL = "openai:gpt-4o-mini"


def test_a_429_cools_the_provider_down_at_once_and_each_attempt_has_its_ledger_row(
    wire_server, monkeypatch, isolated_home
):
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    replies = iter(
        [
            Reply(
                status=429,
                body=json.dumps({"error": {"message": "slow down"}}).encode(),
                headers={"retry-after": "1"},
                content_type="application/json",
            ),
            text_reply("Nothing is wrong."),
        ]
    )
    wire_server.handle(CHAT_PATH, lambda _request: next(replies))
    cooling_at_retry: list[dict[str, float]] = []

    async def main() -> Any:
        with Store.open() as store:
            runtime = Runtime(store)
            subscription = runtime.bus.subscribe()

            async def watch() -> None:
                async for event in subscription:
                    if isinstance(event, ev.ModelRetry):
                        cooling_at_retry.append(default_scheduler().cooldowns())

            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                outcome = await runtime.start_turn(None, "anything wrong?", model=MODEL)
                await runtime.aclose()
            return outcome

    outcome = anyio.run(main)
    assert outcome.status == "completed" and outcome.text == "Nothing is wrong."
    assert len(cooling_at_retry) == 1 and cooling_at_retry[0].get("openai", 0) > 0.5
    with Ledger(isolated_home / "opscopilot.db") as ledger:
        rows = ledger.calls()
        turn_spend = ledger.spent("turn", outcome.turn_id)
    # The refused attempt streamed nothing (no row); the retry has its own row, `<call>~2`.
    assert [row.call_id.rpartition("~")[2] for row in rows] == ["2"]
    assert rows[0].usage.output_tokens > 0 and turn_spend == outcome.cost_usd
    assert len(wire_server.requests_to(CHAT_PATH)) == 2


def test_the_turns_of_one_runtime_share_one_ledger_connection_and_read_caps_anew(
    monkeypatch, isolated_home
):
    from opscopilot.store import ledger as ledger_tables

    opened: list[object] = []
    original = ledger_tables.LedgerStore.__init__

    def counting(self: Any, target: Any) -> None:
        opened.append(target)
        original(self, target)

    monkeypatch.setattr(ledger_tables.LedgerStore, "__init__", counting)

    async def main() -> list[Any]:
        with Store.open() as store:
            runtime = Runtime(store)
            outcomes = []
            for prompt in ("how full is the disk?", "what is the load?"):
                outcomes.append(await runtime.start_turn(None, prompt, model="builtin:ops"))
            with Ledger(store.path) as other:  # `opscopilot budget set day 0` meanwhile
                other.set_cap("day", 0.0)
            outcomes.append(await runtime.start_turn(None, "and now?", model="builtin:ops"))
            await runtime.aclose()
            return outcomes

    first, second, capped = anyio.run(main)
    assert first.status == second.status == "completed"
    assert capped.status == "cut_off" and capped.error.kind == "budget"
    assert "per-day cap of $0 already reached" in capped.error.message
    assert len(opened) == 2  # the runtime's one, and the one that set the cap
    with Ledger(isolated_home / "opscopilot.db") as ledger:
        turns = {row.turn_id for row in ledger.calls()}
    assert {first.turn_id, second.turn_id} <= turns
