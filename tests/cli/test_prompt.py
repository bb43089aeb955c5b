"""`opscopilot prompt` as a real subprocess against the loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm.streaming import ANTHROPIC_KEY, OPENAI_KEY
from tests.llm.test_anthropic import text_reply as anthropic_text
from tests.llm.test_openai import chunk, text_stream, usage_chunk
from tests.support.wire_server import Reply, json_reply, sse

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
USAGE_FIELDS = {
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
}


@pytest.fixture
def env(wire_server) -> dict[str, str]:
    return {
        **os.environ,
        "OPENAI_BASE_URL": f"{wire_server.url}/v1",
        "OPENAI_API_KEY": OPENAI_KEY,
        "ANTHROPIC_BASE_URL": wire_server.url,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "PYTHONIOENCODING": "utf-8",
    }


def opscopilot(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "opscopilot", "prompt", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    for stream in (result.stdout, result.stderr):
        assert OPENAI_KEY not in stream and ANTHROPIC_KEY not in stream
    return result


def test_text_streams_to_stdout_before_the_reply_is_complete(env, wire_server):
    first = sse(chunk({"role": "assistant", "content": "First line — ✓\n"}))
    rest = sse(
        chunk({"content": "second"}),
        chunk({}, "stop"),
        usage_chunk({"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}),
        "[DONE]",
    )
    # Sent as given: the first piece, a long pause, then the rest.
    wire_server.expect(OPENAI, Reply(body=[first, rest], pieces=None, delay_s=1.5))
    process = subprocess.Popen(
        [sys.executable, "-m", "opscopilot", "prompt", "hello", "--model", "openai:gpt-4o-mini"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line == "First line — ✓\n"
    delivery = wire_server.deliveries[0]
    assert not delivery.finished.is_set()  # the text came out while the server still held the rest
    out, err = process.communicate(timeout=30)
    assert out.decode() == "second\n" and process.returncode == 0
    assert b"cost unknown" not in err


def test_json_prints_exactly_one_object_with_the_documented_fields(env, wire_server):
    events = [
        chunk({"role": "assistant", "reasoning_content": "disk first"}),
        chunk({"content": "Run df."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "system_info", "arguments": "{}"},
                    }
                ]
            }
        ),
        chunk({}, "tool_calls"),
        usage_chunk(
            {
                "prompt_tokens": 1000,
                "completion_tokens": 200,
                "total_tokens": 1200,
                "prompt_tokens_details": {"cached_tokens": 512},
                "completion_tokens_details": {"reasoning_tokens": 50},
            }
        ),
        "[DONE]",
    ]
    wire_server.expect(OPENAI, Reply(body=sse(*events)))
    result = opscopilot(
        env,
        "why slow?",
        "--model",
        "openai:gpt-4o-mini",
        "--system",
        "be brief",
        "--max-tokens",
        "300",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # one object and nothing else
    assert set(payload) == {
        "provider",
        "model",
        "text",
        "thinking",
        "tool_calls",
        "finish_reason",
        "usage",
        "cost_usd",
        "error",
    }
    assert payload["provider"] == "openai" and payload["model"] == "gpt-4o-mini"
    assert payload["text"] == "Run df." and payload["thinking"] == "disk first"
    assert payload["tool_calls"] == [{"id": "call_1", "name": "system_info", "arguments": {}}]
    assert payload["finish_reason"] == "tool_calls" and payload["error"] is None
    assert set(payload["usage"]) == USAGE_FIELDS
    assert (
        payload["usage"]["cache_read_tokens"] == 512 and payload["usage"]["reasoning_tokens"] == 50
    )
    assert isinstance(payload["cost_usd"], float) and payload["cost_usd"] > 0
    sent = wire_server.requests_to(OPENAI)[0].json()
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent["max_completion_tokens"] == 300


def test_text_mode_sends_thinking_and_tool_calls_to_stderr_not_stdout(env, wire_server):
    events = [
        chunk({"reasoning_content": "hmm"}),
        chunk({"content": "answer"}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "c",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "/x"}'},
                    }
                ]
            }
        ),
        chunk({}, "tool_calls"),
        "[DONE]",
    ]
    wire_server.expect(OPENAI, Reply(body=sse(*events)))
    result = opscopilot(env, "q", "--model", "openai:gpt-4o-mini")
    assert result.stdout == "answer\n"
    assert "hmm" in result.stderr and 'read_file {"path": "/x"}' in result.stderr


def test_stdin_dash_reads_the_prompt(env, wire_server):
    wire_server.expect(OPENAI, Reply(body=text_stream("ok")))
    result = opscopilot(env, "-", "--model", "openai:gpt-4o-mini", stdin="from a pipe ü\n")
    assert result.returncode == 0 and result.stdout == "ok\n"
    assert wire_server.requests_to(OPENAI)[0].json()["messages"][0]["content"] == "from a pipe ü\n"


def test_a_provider_error_is_one_redacted_line_and_exit_1(env, wire_server):
    body = {
        "error": {
            "message": f"Incorrect API key provided: {OPENAI_KEY}\nsee docs",
            "code": "invalid_api_key",
        }
    }
    wire_server.expect(OPENAI, json_reply(401, body), json_reply(401, body))
    result = opscopilot(env, "hi", "--model", "openai:gpt-4o-mini")
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: auth: openai: HTTP 401")
    as_json = opscopilot(env, "hi", "--model", "openai:gpt-4o-mini", "--json")
    assert as_json.returncode == 1
    payload = json.loads(as_json.stdout)
    assert payload["error"]["kind"] == "auth" and payload["error"]["retryable"] is False
    assert payload["finish_reason"] == "error" and payload["text"] == ""


def test_a_rate_limit_is_retried_and_a_fallback_is_announced_on_stderr(env, wire_server):
    wire_server.expect(
        OPENAI,
        json_reply(429, {"error": {"message": "slow"}}, {"retry-after": "0"}),
        json_reply(404, {"error": {"message": "no such model", "code": "model_not_found"}}),
    )
    wire_server.expect(ANTHROPIC, anthropic_text("from claude"))
    result = opscopilot(env, "hi", "--model", "openai:gpt-4o-mini,anthropic:claude-haiku-4-5")
    assert result.returncode == 0 and result.stdout == "from claude\n"
    assert "retrying openai:gpt-4o-mini (try 2)" in result.stderr
    assert "falling back to anthropic:claude-haiku-4-5" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["hi", "--model", "gpt-4o-mini"],  # not provider:model
        ["hi", "--model", "nosuch:thing"],  # unknown provider
        ["hi", "--max-tokens", "0"],
        ["   "],
    ],
)
def test_usage_errors_exit_2_without_a_request(env, wire_server, args):
    result = opscopilot(env, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() and wire_server.requests == []


def test_max_cost_too_small_for_the_prompt_is_refused_before_any_request(env, wire_server):
    result = opscopilot(
        env, "hi " * 2000, "--model", "openai:gpt-4o-mini", "--max-cost", "0.0000001"
    )
    assert result.returncode == 4 and wire_server.requests == []
    assert result.stderr.startswith("error: budget: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_max_cost_lowers_max_tokens_so_the_worst_case_fits(env, wire_server):
    wire_server.expect(OPENAI, Reply(body=text_stream("short")))
    result = opscopilot(
        env, "hi", "--model", "openai:gpt-4o-mini", "--max-tokens", "100000", "--max-cost", "0.001"
    )
    assert result.returncode == 0 and result.stdout == "short\n"
    assert wire_server.requests_to(OPENAI)[0].json()["max_completion_tokens"] < 100000


def test_max_cost_with_an_unknown_price_is_refused_with_a_hint(env, wire_server):
    result = opscopilot(env, "hi", "--model", "openai:my-finetune", "--max-cost", "5")
    assert result.returncode == 4 and wire_server.requests == []
    assert result.stderr.startswith("error: budget: ") and "cannot be enforced" in result.stderr
    assert '[models."openai:my-finetune"]' in result.stderr


def test_max_cost_that_fits_lets_the_call_run(env, wire_server):
    wire_server.expect(OPENAI, Reply(body=text_stream("cheap")))
    result = opscopilot(
        env, "hi", "--model", "openai:gpt-4o-mini", "--max-tokens", "100", "--max-cost", "1"
    )
    assert result.returncode == 0 and result.stdout == "cheap\n"


def test_an_unknown_cost_is_null_in_json_and_a_hint_in_text_mode(env, wire_server):
    wire_server.expect(OPENAI, Reply(body=text_stream("a")), Reply(body=text_stream("b")))
    as_json = opscopilot(env, "hi", "--model", "openai:my-finetune", "--json")
    assert json.loads(as_json.stdout)["cost_usd"] is None
    as_text = opscopilot(env, "hi", "--model", "openai:my-finetune")
    assert as_text.stdout == "b\n" and "cost unknown" in as_text.stderr
    assert "openai:my-finetune" in as_text.stderr


def test_the_configured_default_model_is_used(env, wire_server, isolated_home: Path):
    (isolated_home / "config.toml").write_text('[defaults]\nmodel = "openai:gpt-4o-mini"\n')
    wire_server.expect(OPENAI, Reply(body=text_stream("configured")))
    result = opscopilot(env, "hi")
    assert result.stdout == "configured\n"
    assert wire_server.requests_to(OPENAI)[0].json()["model"] == "gpt-4o-mini"


def test_the_prompt_path_never_imports_textual_or_vendor_sdks(env, wire_server):
    wire_server.expect(OPENAI, Reply(body=text_stream("x")))
    code = (
        "import sys\n"
        "from opscopilot.cli.main import cli\n"
        "try:\n"
        "    cli.main(['prompt', 'hi', '--model', 'openai:gpt-4o-mini'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = [m for m in ('textual', 'openai', 'anthropic', 'litellm') if m in sys.modules]\n"
        "    print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert "HEAVY []" in result.stderr, result.stderr


def test_loading_the_prompt_command_imports_nothing_heavy(env):
    """httpx, pydantic and the adapters load inside the command, so --help stays instant."""
    code = (
        "import sys, opscopilot.cli.prompt\n"
        "heavy = {'httpx', 'pydantic', 'anyio', 'sqlite_utils', 'textual', 'opscopilot.llm.types'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_prompt_works_against_gemini_and_ollama_servers_too(env, wire_server):
    from tests.llm import test_gemini as gemini
    from tests.llm import test_ollama as ollama
    from tests.support.wire_server import ndjson

    wire_server.expect(
        gemini.PATH,
        Reply(
            body=sse(
                gemini.chunk(
                    [{"text": "Disk / is at 92 % — clean /var/log ✓"}],
                    "STOP",
                    promptTokenCount=7,
                    candidatesTokenCount=11,
                )
            )
        ),
    )
    wire_server.expect(
        ollama.PATH,
        Reply(
            content_type="application/x-ndjson",
            body=ndjson(ollama.line("Port 443 listens ✓"), ollama.done(prompt=5, output=4)),
        ),
    )
    gemini_env = {
        **env,
        "GEMINI_BASE_URL": wire_server.url,
        "GEMINI_API_KEY": "AIzaSy-test-key-0123456789",
    }
    result = opscopilot(gemini_env, "hello", "--model", f"gemini:{gemini.MODEL}", "--json")
    answer = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert answer["text"] == "Disk / is at 92 % — clean /var/log ✓"
    assert answer["provider"] == "gemini" and answer["usage"]["output_tokens"] == 11
    assert "AIzaSy-test-key" not in result.stdout + result.stderr

    ollama_env = {**env, "OLLAMA_HOST": wire_server.url.removeprefix("http://")}
    result = opscopilot(ollama_env, "hello", "--model", f"ollama:{ollama.MODEL}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Port 443 listens ✓")
