"""A model that gets a tool call wrong is told what was wrong and answers; it never kills the
turn, and it is never told its mistake was a policy denial. Against a loopback OpenAI-format
server, the real runtime, tools and store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from opscopilot import config
from opscopilot.runtime import Runtime, TurnOutcome
from opscopilot.store import Store
from tests.support.wire_server import RecordedRequest, Reply, sse

from .support import CHAT_PATH, TEST_KEY, chunk, text_reply, tool_results, usage_chunk, write_config

MODEL = "openai:gpt-4o-mini"


@pytest.fixture
def model(wire_server, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    quiet = json.dumps([sys.executable, "-c", "pass"])
    write_config(
        isolated_home,
        tmp_path / "audit.log",
        extra=(
            "\n[tools.quiet_check]\n"
            'description = "A check that prints nothing when all is well"\n'
            f"command = {quiet}\n"
            'risk = "read"\n'
        ),
    )
    config._cached_config.cache_clear()
    return wire_server


def raw_tool_call(name: str, arguments_text: str) -> Reply:
    """The model asks for a tool with these arguments, sent verbatim (valid JSON or not)."""
    call = {"index": 0, "id": "call_1", "type": "function"}
    return Reply(
        body=sse(
            chunk({"role": "assistant", "content": ""}),
            chunk({"tool_calls": [{**call, "function": {"name": name, "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments_text}}]}),
            chunk({}, "tool_calls"),
            usage_chunk(),
            "[DONE]",
        )
    )


def first_then_answer(first: Reply) -> Any:
    """The bad call first; once a tool result is in the history, an answer that quotes it."""

    def handler(request: RecordedRequest) -> Reply:
        results = tool_results(request)
        if not results:
            return first
        return text_reply(f"Understood: {results[-1]['content'][:60]}")

    return handler


def run_turn(approve_mode: str = "ask") -> TurnOutcome:
    async def main() -> TurnOutcome:
        with Store.open() as store:
            runtime = Runtime(store)
            try:
                return await runtime.start_turn(
                    None, "check things", model=MODEL, approve_mode=approve_mode
                )
            finally:
                await runtime.aclose()

    return anyio.run(main)


def told_to_model(server) -> dict[str, Any]:
    (result,) = tool_results(server.requests_to(CHAT_PATH)[-1])
    return result


@pytest.mark.parametrize(
    ("name", "arguments_text", "expected"),
    [
        (
            "append_line",
            '{"text": "half a JSON',
            "could not be read: the arguments are not valid JSON",
        ),
        ("restart_everything", "{}", "no tool named 'restart_everything'"),
        ("append_line", '{"txt": "typo in the field name"}', "append_line"),
    ],
    ids=["malformed-json", "unknown-tool", "schema-error"],
)
def test_a_call_the_model_got_wrong_goes_back_to_it_and_the_turn_answers(
    model, tmp_path: Path, name: str, arguments_text: str, expected: str
) -> None:
    model.handle(CHAT_PATH, first_then_answer(raw_tool_call(name, arguments_text)))
    outcome = run_turn()
    assert outcome.status == "completed" and outcome.exit_code == 0
    assert "Not run:" in outcome.text  # the model read the problem and answered
    result = told_to_model(model)
    assert expected in result["content"]
    assert "Denied by policy" not in result["content"]  # a mistake is not a policy decision
    assert "send it again" in result["content"] or "Send the call again" in result["content"]
    assert outcome.tool_calls[0].status == "error"
    assert not (tmp_path / "audit.log").exists()  # nothing ran


def test_a_successful_call_with_no_output_says_so(model) -> None:
    model.handle(CHAT_PATH, first_then_answer(raw_tool_call("quiet_check", "{}")))
    outcome = run_turn(approve_mode="all")
    assert outcome.status == "completed" and outcome.tool_calls[0].status == "ok"
    assert told_to_model(model)["content"] == "(no output, exit 0)"


def test_a_model_that_keeps_getting_calls_wrong_is_stopped_and_the_turn_fails(model) -> None:
    model.handle(CHAT_PATH, lambda _request: raw_tool_call("append_line", "{not json"))
    outcome = run_turn()
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "without an answer" in outcome.reason and "3 times in a row" in outcome.reason
    assert len(model.requests_to(CHAT_PATH)) == 3


def test_a_turn_whose_every_call_is_denied_ends_without_an_answer_and_exits_non_zero(
    model,
) -> None:
    model.handle(CHAT_PATH, lambda _request: raw_tool_call("append_line", '{"text": "write it"}'))
    outcome = run_turn(approve_mode="read-only")
    assert outcome.status == "denied" and outcome.text == ""
    assert outcome.exit_code == 1
    assert outcome.reason.startswith("ended without an answer")


def test_a_model_that_answers_nothing_at_all_fails_the_turn(model) -> None:
    model.handle(CHAT_PATH, lambda _request: text_reply(""))
    outcome = run_turn()
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "without an answer" in outcome.reason
