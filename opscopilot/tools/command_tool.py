"""run_command: one command line, split into words like a shell would, run WITHOUT a shell."""

from __future__ import annotations

import re
import shlex
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from opscopilot.tools.base import Classification, OutputCallback, Tool, ToolResult
from opscopilot.tools.command_policy import CommandClassifier
from opscopilot.tools.process import DEFAULT_OUTPUT_LIMIT, run_process
from opscopilot.tools.shell_syntax import scan_shell

_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


class RunCommandArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, description="The command line, e.g. `df -h /var`.")
    cwd: str | None = Field(None, description="Working directory (default: the current one).")
    timeout_s: float = Field(30, gt=0, le=3600, description="Seconds before it is killed.")


class RunCommandTool(Tool):
    name = "run_command"
    description = (
        "Run one command on this host, e.g. `df -h` or `journalctl -u nginx -n 50`. It is split "
        "into words like a shell would, but NOT run by a shell: pipes, redirections and `;` need "
        "the operator's approval. Read-only diagnostics run at once; anything else waits."
    )
    args_model = RunCommandArgs

    def __init__(self, output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.output_limit = output_limit

    def classify(self, arguments: dict[str, Any]) -> Classification:
        command = arguments.get("command")
        if not isinstance(command, str) or not command.strip():
            return Classification(
                "write", "no command given", tool=self.name, subjects=(self.name,)
            )
        cwd = arguments.get("cwd") if isinstance(arguments.get("cwd"), str) else None
        verdict = CommandClassifier(cwd).command(command)
        return Classification(
            verdict.risk,
            verdict.reason,
            needs_shell=verdict.needs_shell,
            tool=self.name,
            command=verdict.subjects[0],
            subjects=(self.name, *verdict.subjects),
            network=verdict.network,
        )

    async def run(
        self,
        args: BaseModel | dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
        approved_shell: bool = False,
    ) -> ToolResult:
        parsed = self.validate(args)
        assert isinstance(parsed, RunCommandArgs)
        command = parsed.command
        run = dict(
            cwd=parsed.cwd,
            timeout_s=parsed.timeout_s,
            on_output=on_output,
            output_limit=self.output_limit,
        )
        if approved_shell:
            # The operator approved this exact string (the approval is bound to its call hash).
            return await run_process(["/bin/sh", "-c", command], **run)  # type: ignore[arg-type]
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            return ToolResult(status="error", content=f"cannot split the command into words: {exc}")
        environment: dict[str, str] = {}
        while argv and (match := _ASSIGNMENT.match(argv[0])):
            environment[match.group(1)] = match.group(2)
            argv.pop(0)
        if not argv:
            return ToolResult(status="error", content="no program to run")
        if CommandClassifier(parsed.cwd).command(command).invokes_shell:
            return ToolResult(
                status="error",
                content="this command hands a script to a shell; it runs only after the operator "
                "approves this exact command",
            )
        result = await run_process(argv, env_overrides=environment, **run)  # type: ignore[arg-type]
        if scan_shell(command).needs_shell and result.status != "ok":
            note = (
                "[note: run without a shell, so shell syntax was passed to the program as plain "
                "words; ask the operator to approve it to run it through a shell]"
            )
            result.content = f"{result.content.rstrip()}\n{note}"
        return result
