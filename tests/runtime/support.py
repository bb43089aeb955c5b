"""Scripted OpenAI Chat Completions replies, a config with a `write` custom tool, subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.wire_server import RecordedRequest, Reply, WireServer, sse

CHAT_PATH = "/v1/chat/completions"
TEST_KEY = "sk-test-runtime-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk(prompt: int = 50, completion: int = 10) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def tool_call_reply(*calls: tuple[str, str, dict[str, Any]], delay_s: float = 0.0) -> Reply:
    """The model asks for tools: (id, name, arguments) each."""
    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    for index, (call_id, name, arguments) in enumerate(calls):
        events.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        events.append(
            chunk(
                {"tool_calls": [{"index": index, "function": {"arguments": json.dumps(arguments)}}]}
            )
        )
    events += [chunk({}, "tool_calls"), usage_chunk(), "[DONE]"]
    return Reply(body=sse(*events), delay_s=delay_s)


def text_reply(text: str, delay_s: float = 0.0) -> Reply:
    split = text.split(" ")
    words = [w + " " for w in split[:-1]] + [split[-1]]
    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": w}) for w in words]
    events += [chunk({}, "stop"), usage_chunk(80, len(words)), "[DONE]"]
    return Reply(body=sse(*events), delay_s=delay_s)


def tool_results(request: RecordedRequest) -> list[dict[str, Any]]:
    return [m for m in request.json()["messages"] if m.get("role") == "tool"]


def script_append_turn(server: WireServer, text: str = "hello", delay_s: float = 0.0) -> None:
    """First call asks for append_line; once a tool result is in the history, it answers."""

    def answer(request: RecordedRequest) -> Reply:
        results = tool_results(request)
        if not results:
            return tool_call_reply(("call_1", "append_line", {"text": text}), delay_s=delay_s)
        return text_reply(
            f"Appended. The tool said: {results[-1]['content'][:40]}", delay_s=delay_s
        )

    server.handle(CHAT_PATH, answer)


def write_config(home: Path, audit_file: Path, *, sleep_s: float = 0.0, extra: str = "") -> None:
    """A config.toml with a `write` custom tool that appends one line to `audit_file`."""
    program = (
        "import sys, time; f = open(sys.argv[1], 'a'); f.write(sys.argv[2] + '\\n'); "
        f"f.flush(); time.sleep({sleep_s}); print('appended', sys.argv[2])"
    )
    command = [sys.executable, "-c", program, str(audit_file), "{text}"]
    (home / "config.toml").write_text(
        '[defaults]\nmodel = "openai:gpt-4o-mini"\n\n'
        "[tools.append_line]\n"
        'description = "Append one line of text to the audit file"\n'
        f"command = {json.dumps(command)}\n"
        'risk = "write"\n'
        "timeout_s = 20\n"
        "[tools.append_line.params.text]\n"
        'type = "string"\n'
        'description = "the line to append"\n' + extra
    )


def cli_env(home: Path, server: WireServer | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["OPSCOPILOT_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    if server is not None:
        env["OPENAI_BASE_URL"] = server.url + "/v1"
        env["OPENAI_API_KEY"] = TEST_KEY
    return env


def opscopilot(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "opscopilot", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
