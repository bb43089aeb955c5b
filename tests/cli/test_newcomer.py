"""What a newcomer tries first, as real processes: piped input, --debug, NO_COLOR, help text,
bundled recordings by name, `paths`, shell completion, one clear line off Linux."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from opscopilot.cli.main import cli
from tests.cli.test_prompt import OPENAI, env, opscopilot  # noqa: F401  (fixture)
from tests.llm.streaming import OPENAI_KEY
from tests.llm.test_openai import text_stream
from tests.support.wire_server import Reply

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env_extra: dict[str, str] | None = None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "opscopilot", *args],
        env={**os.environ, **(env_extra or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        **kw,
    )


def test_piped_input_goes_before_the_prompt_like_llm(env, wire_server):  # noqa: F811
    wire_server.expect(OPENAI, Reply(body=text_stream("nginx cannot bind port 80")))
    log = "Dec 01 nginx[812]: bind() to 0.0.0.0:80 failed (98: Address already in use)\n"
    result = opscopilot(env, "why?", "--model", "openai:gpt-4o-mini", stdin=log)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nginx cannot bind port 80\n"
    (message,) = wire_server.requests[0].json()["messages"]
    assert message["content"] == log.rstrip() + "\n\nwhy?"


def test_no_stdin_at_all_never_waits(env, wire_server):  # noqa: F811
    wire_server.expect(OPENAI, Reply(body=text_stream("ok")))
    result = subprocess.run(
        [sys.executable, "-m", "opscopilot", "prompt", "hi", "--model", "openai:gpt-4o-mini"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout == "ok\n"
    (message,) = wire_server.requests[0].json()["messages"]
    assert message["content"] == "hi"


def test_debug_writes_a_redacted_log_and_says_where(env, wire_server):  # noqa: F811
    wire_server.expect(OPENAI, Reply(body=text_stream("fine")))
    result = subprocess.run(
        [sys.executable, "-m", "opscopilot", "--debug", "prompt", "hi", "-m", "openai:gpt-4o-mini"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if x.startswith("debug log: "))
    path = Path(line.removeprefix("debug log: "))
    assert path.parent == Path(os.environ["OPSCOPILOT_HOME"]) / "logs"
    text = path.read_text()
    assert "HTTP Request: POST" in text and "openai:gpt-4o-mini: try 1" in text
    assert OPENAI_KEY not in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    wire_server.expect(OPENAI, Reply(body=text_stream("again")))
    by_env = subprocess.run(
        [sys.executable, "-m", "opscopilot", "prompt", "hi", "-m", "openai:gpt-4o-mini"],
        env={**env, "OPSCOPILOT_DEBUG": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "debug log: " in by_env.stderr


def test_thinking_is_dimmed_on_a_terminal_unless_no_color(monkeypatch):
    from opscopilot.cli.prompt import TerminalRenderer
    from opscopilot.llm.types import ThinkingDelta

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def shown(err: Terminal) -> str:
        renderer = TerminalRenderer(as_json=False, out=io.StringIO(), err=err)
        renderer.event(ThinkingDelta("hmm"))
        # stdout/stderr hold back the end of a stream until it is known not to start a key
        renderer._write_thinking(renderer.thinking.flush())
        return err.getvalue()

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert shown(Terminal()) == "\x1b[2mhmm\x1b[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert shown(Terminal()) == "hmm"


def test_resume_help_names_its_argument_turn_id():
    shown = CliRunner().invoke(cli, ["resume", "--help"])
    assert "TURN_ID" in shown.output and "TEXT" not in shown.output


def test_a_bundled_recording_plays_by_name_and_a_wrong_name_lists_them():
    played = run_cli("replay", "01-disk-and-memory", "--headless", "--speed", "max")
    assert played.returncode == 0, played.stderr
    assert "turn completed" in played.stdout
    by_prefix = run_cli("replay", "03", "--headless", "--speed", "max")
    assert by_prefix.returncode == 0, by_prefix.stderr
    wrong = run_cli("replay", "nope", "--headless")
    assert wrong.returncode == 1
    assert "01-disk-and-memory" in wrong.stderr and len(wrong.stderr.splitlines()) == 1


def test_paths_says_where_everything_lives(isolated_home: Path):
    shown = json.loads(CliRunner().invoke(cli, ["paths", "--json"]).output)
    assert shown["config"] == str(isolated_home / "config.toml")
    assert shown["store"] == str(isolated_home / "opscopilot.db")
    assert shown["recordings"] == str(isolated_home / "recordings")
    assert Path(shown["bundled_recordings"], "01-disk-and-memory.jsonl").is_file()
    assert Path(shown["sample_tickets"]).is_file()
    text = CliRunner().invoke(cli, ["paths"]).output
    assert "bundled recordings" in text and str(isolated_home) in text


def complete(words: str) -> list[str]:
    result = run_cli(
        env_extra={
            "_OPSCOPILOT_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
    )
    assert result.returncode == 0, result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if "," in line]


def test_shell_completion_offers_models_themes_and_session_ids(isolated_home: Path):
    assert "openai:gpt-4.1-mini" in complete("opscopilot prompt --model openai:gpt-4.1")
    chain = complete("opscopilot run x --model builtin:ops,anthropic:claude-son")
    assert "builtin:ops,anthropic:claude-sonnet-4-5" in chain
    assert complete("opscopilot tui --theme opscopilot-l") == ["opscopilot-light"]
    from opscopilot.store import Store

    with Store.open() as store:
        store.create_session("s-0123abcdef", "builtin:ops", "disk", 1000.0)
    assert complete("opscopilot sessions show s-01") == ["s-0123abcdef"]
    assert "01-disk-and-memory" in complete("opscopilot replay 01")


def test_the_theme_before_any_command_opens_the_tui_with_it(monkeypatch):
    from opscopilot.tui.app import OpsCopilotApp

    opened: list[tuple[str | None, str]] = []
    # The real command builds the real app; only the blocking terminal loop is skipped.
    monkeypatch.setattr(
        OpsCopilotApp, "run", lambda self: opened.append((self.requested_theme, self.default_model))
    )
    result = CliRunner().invoke(cli, ["--theme", "opscopilot-light"])
    assert result.exit_code == 0, result.output
    assert opened == [("opscopilot-light", "builtin:ops")]
    misplaced = CliRunner().invoke(cli, ["--theme", "opscopilot-light", "prompt", "hi"])
    assert misplaced.exit_code == 2 and "after the command" in misplaced.output


def test_anywhere_but_linux_it_says_so_in_one_line(monkeypatch, capsys):
    from opscopilot.cli import main as entry

    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: opscopilot runs on Linux only (this is darwin)")
    assert len(err.splitlines()) == 1


def test_tables_read_at_80_columns_without_breaking_words(isolated_home: Path):
    from opscopilot.store import ApprovalRecord, Store
    from opscopilot.store.approvals import call_hash

    title = "why is the payments gateway returning intermittent 502 errors since the deploy"
    arguments = {"command": "systemctl restart payments-gateway.service"}
    with Store.open() as store:
        store.create_session("s-0123abcdef", "anthropic:claude-sonnet-4-5", title, 1000.0)
        store.create_turn("t-0123abcdef", "s-0123abcdef", title, "builtin:ops", 1000.0)
        store.create_approval(
            ApprovalRecord(
                id="t-0123abcdef-a1",
                session_id="s-0123abcdef",
                turn_id="t-0123abcdef",
                tool_call_id="call-1",
                tool="run_command",
                arguments=arguments,
                risk="destructive",
                reason="restarts a service",
                call_hash=call_hash("run_command", arguments),
                requested_at=1000.0,
            )
        )
    narrow = {"COLUMNS": "80"}
    for command, words in (
        (("sessions", "list"), title.split()),
        (("approvals", "list"), ["systemctl", "restart", "destructive", "pending"]),
        (("models", "list"), ["anthropic:claude-sonnet-4-5", "together:zai-org/GLM-5.3"]),
    ):
        shown = run_cli(*command, env_extra=narrow)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80, (command, shown.stdout)
        flat = " ".join(line.strip() for line in lines)
        for word in words:  # a word broken over two lines would read "syst emctl" here
            assert word in flat, (command, word, shown.stdout)
