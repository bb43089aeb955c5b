from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from opscopilot import events as ev
from opscopilot.llm.providers import open_provider
from opscopilot.llm.types import ErrorInfo, LLMError, Message, Request, ResponseBuilder, Usage
from opscopilot.replay import provider as recorded
from opscopilot.replay.recording import RecordingHeader, write_recording


@pytest.fixture(autouse=True)
def _fresh():
    recorded.reset()
    yield
    recorded.reset()


def session(tmp_path: Path) -> Path:
    s, t = "s", "t"
    events: list[ev.Event] = [
        ev.ModelCallStarted(
            ts=1, session_id=s, turn_id=t, call_id="c1", provider="openai", model="m"
        ),
        ev.ModelText(ts=2, session_id=s, turn_id=t, call_id="c1", text="lost on retry"),
        ev.ModelCallStarted(
            ts=3, session_id=s, turn_id=t, call_id="c1", provider="openai", model="m", attempt=2
        ),
        ev.ModelText(ts=4, session_id=s, turn_id=t, call_id="c1", text="Let me check "),
        ev.ModelToolCall(
            ts=5,
            session_id=s,
            turn_id=t,
            call_id="c1",
            tool_call_id="k1",
            name="run_command",
            arguments={"command": "df -h"},
        ),
        ev.ModelFinished(
            ts=6,
            session_id=s,
            turn_id=t,
            call_id="c1",
            provider="openai",
            model="m",
            finish_reason="tool_calls",
            usage=Usage(input_tokens=20, output_tokens=7),
        ),
        ev.ModelCallStarted(
            ts=7, session_id=s, turn_id=t, call_id="c2", provider="openai", model="m"
        ),
        ev.ModelFinished(
            ts=8,
            session_id=s,
            turn_id=t,
            call_id="c2",
            provider="openai",
            model="m",
            finish_reason="error",
            error=ErrorInfo(kind="server", message="HTTP 500", retryable=True),
        ),
        ev.ModelCallStarted(
            ts=9, session_id=s, turn_id=t, call_id="c3", provider="openai", model="m"
        ),
        ev.ModelText(ts=10, session_id=s, turn_id=t, call_id="c3", text="Disk is fine."),
        ev.ModelFinished(
            ts=11,
            session_id=s,
            turn_id=t,
            call_id="c3",
            provider="openai",
            model="m",
            finish_reason="stop",
            usage=Usage(input_tokens=40, output_tokens=4),
        ),
    ]
    path = tmp_path / "session.jsonl"
    write_recording(path, RecordingHeader(), events)
    return path


async def ask(path: Path, messages: list[Message]):
    provider = open_provider("replay", None)
    builder = ResponseBuilder("replay", str(path))
    async for event in provider.stream(Request(model=str(path), messages=messages)):
        builder.add(event)
    return builder.build()


def test_answers_each_position_with_the_recorded_call_and_replays_errors(tmp_path: Path):
    path = session(tmp_path)
    first = anyio.run(ask, path, [Message.user("why?")])
    assert first.text == "Let me check "
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls[0].arguments == {"command": "df -h"}
    assert first.usage.output_tokens == 7

    history = [Message.user("why?"), first.to_message(), Message.tool_result("k1", "ok")]
    with pytest.raises(LLMError) as failure:
        anyio.run(ask, path, history)
    assert failure.value.kind == "server"
    second = anyio.run(ask, path, history)
    assert second.text == "Disk is fine."

    again = anyio.run(ask, path, [Message.user("why?")])  # same history, same answer
    assert again.text == "Let me check "

    with pytest.raises(LLMError, match="asked for one more"):
        anyio.run(ask, path, [*history, second.to_message(), Message.user("and?")])
