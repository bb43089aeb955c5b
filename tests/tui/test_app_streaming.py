"""The real app, driven by Pilot: prompts, streaming answers, tool cards, meters, panes."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Markdown, Static

from opscopilot import events as ev
from opscopilot.tui.widgets.conversation import ConversationPane
from opscopilot.tui.widgets.tool_card import ToolCard
from tests.tui.conftest import FIXED_NOW, ScriptedEngine, answer_script, make_app, wait_for

pytestmark = pytest.mark.anyio


async def submit(pilot, app, text: str) -> None:
    """Put text in the prompt and press enter (typing is tested once, key by key, above)."""
    app.main_screen.query_one("#prompt", Input).value = text
    await pilot.press("enter")


ANSWER = "## Disk\n\nRoot is **42%** full.\n\n```sh\ndf -h /\n```\n"


async def test_a_prompt_streams_into_one_markdown_with_a_tool_card_and_meters(engine):
    app = make_app(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(*"disk usage?", "enter")
        pane = app.active_pane
        await wait_for(pilot, lambda: pane.state == "completed")
        await pilot.pause(0.1)

        assert engine.turns == [(pane.session_id, "disk usage?", "builtin:ops")]
        assert app.query_one("#prompt", Input).value == ""
        answers = pane.query(".answer-text").results(Markdown)
        assert [a.source for a in answers] == [ANSWER]  # one Markdown per answer, all text in it
        card = pane.query_one(ToolCard)
        assert (card.tool_name, card.risk, card.status) == ("system_info", "read", "ok")
        assert card.output == "load 0.42 0.30 0.21\n"
        assert "0.05s" in str(card.query_one(".tool-header", Static).render())
        meter = str(app.query_one("#meter-session", Static).render())
        assert "$0.0021" in meter
        turn_meter = str(app.query_one("#meter-turn", Static).render())
        assert turn_meter == "turn $0.0021 (simulated)"  # builtin is priced at a demo rate
        note = str(pane.query_one(".turn-status", Static).render())
        assert note == "turn completed  ·  $0.0021 (simulated)"


async def test_a_budget_cutoff_is_shown_where_it_happened_and_keeps_the_partial_text(engine):
    app = make_app(engine, caps={"call": 0.001})
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.active_pane
        ids = {"ts": FIXED_NOW, "session_id": pane.session_id, "turn_id": "t-cut"}
        for event in [
            ev.TurnStarted(**ids, prompt="long answer", model="openai:gpt-4o-mini"),
            ev.ModelCallStarted(**ids, call_id="c1", provider="openai", model="gpt-4o-mini"),
            ev.ModelText(**ids, call_id="c1", text="The first part of a long "),
            ev.ModelUsage(**ids, call_id="c1", usage={"output_tokens": 900}, cost_usd=0.0011),
            ev.BudgetCutoff(**ids, scope="call", spent_usd=0.0011, cap_usd=0.001, call_id="c1"),
            ev.ModelFinished(
                **ids,
                call_id="c1",
                provider="openai",
                model="gpt-4o-mini",
                finish_reason="budget",
                cost_usd=0.0011,
            ),
            ev.TurnFinished(**ids, status="cut_off", cost_usd=0.0011),
        ]:
            await app.ingest(event)
        await pilot.pause(0.1)

        children = list(pane.query_one(".transcript").children)
        kinds = [sorted(c.classes)[0] for c in children]
        assert kinds.index("answer") < kinds.index("cutoff")  # the marker follows the answer
        cutoff = pane.query_one(".cutoff", Static)
        assert "call cap $0.0010" in str(cutoff.render())
        assert pane.query_one(".answer-text", Markdown).source == "The first part of a long "
        call_meter = app.query_one("#meter-call", Static)
        assert call_meter.has_class("-over") and "OVER" in str(call_meter.render())
        assert pane.state == "cut_off"


async def test_split_send_to_all_panes_compares_models_side_by_side(engine):
    app = make_app(engine)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("ctrl+n")
        assert len(app.panes) == 2
        app.panes[1].set_model("openai:gpt-4o-mini")
        await pilot.press("ctrl+b")
        await submit(pilot, app, "why 5xx?")
        await wait_for(pilot, lambda: all(p.state == "completed" for p in app.panes))

        assert sorted(model for _, _, model in engine.turns) == [
            "builtin:ops",
            "openai:gpt-4o-mini",
        ]
        assert all(p.last_answer_text == ANSWER for p in app.panes)
        assert {
            p.query_one(".answer-meta", Static).render().plain.split()[0] for p in app.panes
        } == {"builtin:ops", "openai:gpt-4o-mini"}

        await pilot.press("f6")
        assert app.active_pane is app.panes[0]
        await pilot.press("f8")
        assert len(app.panes) == 1
        assert app.check_action("close_pane", ()) is False  # the last pane can't close


async def test_copy_keys_put_the_answer_code_and_tool_output_on_the_clipboard(engine):
    app = make_app(engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        assert not app.action_applies("copy_answer")  # nothing to copy yet: not in the palette
        await pilot.press("ctrl+y")  # ... and the key says so instead of doing nothing
        await wait_for(
            pilot, lambda: any(n.message == "no answer to copy" for n in app._notifications)
        )
        await submit(pilot, app, "disk")
        await wait_for(pilot, lambda: app.active_pane.state == "completed")
        await pilot.press("ctrl+y")
        assert app.clipboard == ANSWER
        await pilot.press("ctrl+g")
        assert app.clipboard == "df -h /\n"
        await pilot.press("ctrl+t")
        assert app.clipboard == "load 0.42 0.30 0.21\n"


async def test_copy_keys_mask_secrets_as_the_pane_does():
    key = "sk-proj-" + "Q" * 32
    engine = ScriptedEngine(
        answer_script([f"Rotate `{key}` now.\n\n", f"```sh\nexport K={key}\n```\n"])
    )
    app = make_app(engine)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await submit(pilot, app, "keys?")
            await wait_for(pilot, lambda: app.active_pane.state == "completed")
            for keys in ("ctrl+y", "ctrl+g"):
                await pilot.press(keys)
                assert key not in app.clipboard and "[REDACTED]" in app.clipboard
            assert app.clipboard.startswith("export K=")
    finally:
        engine.close()


async def test_a_busy_pane_refuses_a_second_prompt_and_keeps_what_was_typed():
    def waiting(session_id, turn_id, prompt, model):
        ids = {"ts": FIXED_NOW, "session_id": session_id, "turn_id": turn_id}
        return [
            ev.TurnStarted(**ids, prompt=prompt, model=model),
            ev.ApprovalRequested(
                **ids,
                approval_id="ap-x",
                tool_call_id="tc-x",
                name="run_command",
                arguments={"command": "systemctl restart nginx"},
                risk="write",
            ),
        ]

    engine = ScriptedEngine(waiting)
    try:
        app = make_app(engine)
        async with app.run_test(size=(120, 40)) as pilot:
            await submit(pilot, app, "restart nginx")
            await wait_for(pilot, lambda: app.active_pane.state == "awaiting_approval")
            await submit(pilot, app, "again")
            await pilot.pause(0.1)
            assert len(engine.turns) == 1
            assert app.query_one("#prompt", Input).value == "again"
            card = app.active_pane.query_one(ToolCard)
            assert (card.risk, card.status) == ("write", "awaiting")
    finally:
        engine.close()


async def test_a_stored_session_opens_with_its_history(engine):
    script = answer_script(["Earlier answer."])
    for event in script("ses-old", "turn-old", "earlier question", "builtin:ops"):
        engine.store.append_event(event)
    engine.store.flush()
    app = make_app(engine, session_id="ses-old")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.active_pane
        await wait_for(pilot, lambda: pane.state == "completed")
        assert pane.session_id == "ses-old"
        assert pane.last_answer_text == "Earlier answer."
        assert "earlier question" in str(pane.query_one(".user-prompt", Static).render())


async def test_events_of_a_session_without_a_pane_open_one(engine):
    app = make_app(engine)
    async with app.run_test(size=(160, 40)) as pilot:
        await app.ingest(
            ev.TurnStarted(
                ts=FIXED_NOW,
                session_id="ses-elsewhere",
                turn_id="t9",
                prompt="hi",
                model="builtin:ops",
            )
        )
        await pilot.pause()
        assert [p.session_id for p in app.query(ConversationPane)][-1] == "ses-elsewhere"
