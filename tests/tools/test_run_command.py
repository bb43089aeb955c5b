"""run_command runs real processes: argv only, timeouts kill the group, output capped and redacted."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import pytest

from opscopilot.tools import ToolError, ToolRegistry, classify, decide

RUN = ToolRegistry.builtin().get("run_command")


def run(arguments: dict, **kwargs):
    return anyio.run(lambda: RUN.run(arguments, **kwargs))


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary"
    path.write_text("alive")
    return path


def test_a_plain_command_runs_as_argv_and_reports_its_exit_code() -> None:
    result = run({"command": "printf 'a b\\n'"})
    assert (result.status, result.content, result.exit_code) == ("ok", "a b\n", 0)
    failed = run({"command": "ls /definitely/not/here"})
    assert failed.status == "error" and failed.exit_code == 2
    assert "[exit code 2]" in failed.content and "[stderr]" in failed.content


def test_a_missing_program_is_a_clear_error_not_a_crash() -> None:
    result = run({"command": "no-such-program-xyz --help"})
    assert result.status == "error"
    assert result.content == "command not found: no-such-program-xyz"


def test_a_missing_working_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = run({"command": "ls", "cwd": str(tmp_path / "gone")})
    assert result.status == "error" and "does not exist" in result.content


def test_cwd_is_honoured(tmp_path: Path) -> None:
    assert run({"command": "pwd", "cwd": str(tmp_path)}).content.strip() == str(tmp_path)


@pytest.mark.parametrize(
    "injected",
    [
        "echo a; rm -f {canary}",
        "echo a && rm -f {canary}",
        "echo a || rm -f {canary}",
        "echo $(rm -f {canary})",
        "echo `rm -f {canary}`",
        "echo a\nrm -f {canary}",
        "echo a | rm -f {canary}",
        "echo a & rm -f {canary}",
        "true > {canary}",
    ],
)
def test_injected_shell_syntax_never_runs_without_approval(injected: str, canary: Path) -> None:
    command = injected.format(canary=canary)
    classification = classify("run_command", {"command": command})
    assert classification.needs_shell and classification.risk != "read"
    assert decide(classification, "ask").action == "ask"
    assert decide(classification, "read-only").action == "deny"
    # Even when run anyway (the runtime never does this unapproved), it is plain argv: `echo`
    # prints the words, nothing is interpreted, the canary survives.
    run({"command": command})
    assert canary.read_text() == "alive"


def test_a_shell_interpreter_is_refused_without_approval(canary: Path) -> None:
    result = run({"command": f"sh -c 'rm -f {canary}'"})
    assert result.status == "error" and "approves this exact command" in result.content
    result = run({"command": f"sudo -n bash -c 'rm -f {canary}'"})
    assert result.status == "error"
    assert canary.read_text() == "alive"


def test_an_approved_shell_command_runs_through_the_shell(tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = run(
        {"command": f"echo one | tr a-z A-Z > {target}; cat {target}"}, approved_shell=True
    )
    assert result.status == "ok" and result.content.strip() == "ONE"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    script = tmp_path / "spawn.py"
    script.write_text(
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    )
    # 5 s lets a loaded machine start two Pythons before the timeout; the bound only shows
    # the run ended at its timeout, not when the 600 s sleep would have.
    started = time.monotonic()
    result = run({"command": f"{sys.executable} {script}", "timeout_s": 5})
    assert result.status == "timeout"
    assert time.monotonic() - started < 120
    assert "started" in result.content and "process group was killed" in result.content
    grandchild = int(marker.read_text())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild survived the timeout")


def test_output_is_capped_with_a_truncation_marker() -> None:
    from opscopilot.tools.command_tool import RunCommandTool

    tool = RunCommandTool(output_limit=4096)
    result = anyio.run(lambda: tool.run({"command": "seq 1 100000"}))
    assert result.status == "ok" and result.truncated
    assert "[truncated " in result.content
    assert result.content.startswith("1\n2\n3\n") and result.content.rstrip().endswith("100000")
    assert len(result.content) < 4096 + 200


def test_output_streams_line_by_line_to_on_output(tmp_path: Path) -> None:
    # The child prints a line, then waits until the parent has *seen* it (the callback drops
    # a flag file): output held back until the end would leave the child saying "late".
    # Driven by progress, not by the clock, so a loaded machine cannot make it flake.
    flag = tmp_path / "seen-0"
    script = tmp_path / "slow.py"
    script.write_text(
        "import os, sys, time\n"
        "print(0, flush=True)\n"
        "deadline = time.monotonic() + 20\n"
        f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        f"print(1 if os.path.exists({str(flag)!r}) else 'late', flush=True)\n"
        "print(2, flush=True)\n"
        "print('oops', file=sys.stderr)\n"
    )
    seen: list[tuple[str, str]] = []

    def on_output(stream: str, text: str) -> None:
        seen.append((stream, text))
        if text == "0":
            flag.touch()

    result = run({"command": f"{sys.executable} {script}"}, on_output=on_output)
    assert seen == [
        ("stdout", "0"),
        ("stdout", "1"),
        ("stdout", "2"),
        ("stderr", "oops"),
    ]
    assert result.status == "ok"


def test_secrets_are_scrubbed_from_the_child_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOO_TOKEN", "tok-value-123456")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("DB_PASSWORD", "hunter2hunter2")
    monkeypatch.setenv("DATABASE_URL", "postgres://app:pw123456@db/app")
    monkeypatch.setenv("OPSCOPILOT_VISIBLE", "yes")
    result = run({"command": "env"})
    assert "OPSCOPILOT_VISIBLE=yes" in result.content
    for name in ("FOO_TOKEN", "AWS_REGION", "DB_PASSWORD", "DATABASE_URL"):
        assert name not in result.content


def test_secrets_in_output_are_redacted_before_they_reach_the_model(tmp_path: Path) -> None:
    env_file = tmp_path / "app.conf"
    env_file.write_text("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx\napi_key: supersecret99\n")
    streamed: list[str] = []
    result = run({"command": f"cat {env_file}"}, on_output=lambda s, t: streamed.append(t))
    assert "abcdefghijklmnop" not in result.content and "supersecret99" not in result.content
    assert "[REDACTED]" in result.content
    assert not any("supersecret99" in line for line in streamed)


def test_leading_assignments_become_the_childs_environment() -> None:
    assert run({"command": "LC_ALL=C printenv LC_ALL"}).content.strip() == "C"


def test_bad_arguments_are_one_readable_line() -> None:
    with pytest.raises(ToolError) as caught:
        RUN.validate({"command": "", "timeout_s": -1, "shell": True})
    assert caught.value.kind == "invalid_arguments"
    message = str(caught.value)
    assert "\n" not in message and message.startswith("run_command: ")
    assert "timeout_s" in message and "shell: not an argument of this tool" in message
