"""Run one argv (never through a shell unless the argv IS an approved shell) with bounded output.

The child gets a scrubbed environment, /dev/null as stdin and its own process group, so a
timeout or a cancelled turn kills it and everything it started. Output streams line by line
to `on_output` (redacted) and is kept up to a cap: the head and the tail, with a marker
saying how much was dropped in between. Inside `sandbox.confined()` (an unattended call)
the argv runs inside the OS sandbox, see opscopilot/tools/sandbox.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

import anyio
from anyio.abc import ByteReceiveStream, Process

from opscopilot import children
from opscopilot.redact import redact
from opscopilot.tools import sandbox
from opscopilot.tools.base import OutputCallback, ToolResult
from opscopilot.tools.environment import scrubbed_environment

DEFAULT_OUTPUT_LIMIT = 64 * 1024
_LONGEST_LINE = 8 * 1024  # a line without a newline is streamed in pieces of this size
_KILL_GRACE_S = 0.5


class CappedBuffer:
    """Keeps the first and last `limit // 2` bytes of a stream and counts what it dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        keep = self.limit - self.limit // 2
        if len(self.tail) > keep:
            self.dropped += len(self.tail) - keep
            del self.tail[: len(self.tail) - keep]

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.dropped:
            return f"{head}\n[truncated {self.dropped} bytes]\n{tail}"
        return head + tail


class _LineStreamer:
    """Splits a byte stream into lines for on_output, and stops streaming past a budget."""

    def __init__(self, name: str, on_output: OutputCallback | None, budget: list[int]) -> None:
        self.name = name
        self.on_output = on_output
        self.budget = budget  # shared between stdout and stderr: [bytes left to stream]
        self.pending = bytearray()

    def feed(self, chunk: bytes) -> None:
        if self.on_output is None:
            return
        self.pending += chunk
        while True:
            cut = self.pending.find(b"\n")
            if cut < 0 and len(self.pending) < _LONGEST_LINE:
                return
            end = cut + 1 if cut >= 0 else _LONGEST_LINE
            line = bytes(self.pending[:end])
            del self.pending[:end]
            self._emit(line)

    def close(self) -> None:
        if self.pending:
            self._emit(bytes(self.pending))
            self.pending.clear()

    def _emit(self, line: bytes) -> None:
        assert self.on_output is not None
        if self.budget[0] <= 0:
            return
        self.budget[0] -= len(line)
        text = line.decode("utf-8", errors="replace").rstrip("\n")
        self.on_output(self.name, redact(text))
        if self.budget[0] <= 0:
            self.on_output(self.name, "[output limit reached: the rest is not streamed]")


def _kill_group(process: Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def _pump(
    stream: ByteReceiveStream | None, buffer: CappedBuffer, lines: _LineStreamer
) -> None:
    if stream is None:
        return
    async for chunk in stream:
        buffer.add(chunk)
        lines.feed(chunk)
    lines.close()


def _compose(stdout: CappedBuffer, stderr: CappedBuffer) -> str:
    out = stdout.text()
    err = stderr.text()
    if err.strip():
        out = (out.rstrip("\n") + "\n" if out.strip() else "") + "[stderr]\n" + err
    return out


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    timeout_s: float = 30.0,
    env_overrides: Mapping[str, str] | None = None,
    on_output: OutputCallback | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
) -> ToolResult:
    """Run argv to completion or timeout; never raises for the program's own failures."""
    started = time.monotonic()

    def finish(status: str, content: str, **extra: object) -> ToolResult:
        return ToolResult(
            status=status,  # type: ignore[arg-type]
            content=redact(content),
            duration_s=round(time.monotonic() - started, 3),
            **extra,  # type: ignore[arg-type]
        )

    if not argv:
        return finish("error", "empty command")
    if cwd is not None and not os.path.isdir(cwd):
        return finish("error", f"working directory {cwd!r} does not exist or is not a directory")
    env = scrubbed_environment()
    env.update(env_overrides or {})
    if sandbox.is_confined():
        # An unattended call: it runs in the sandbox or not at all (the policy asked already
        # where the host has none; this catches a turn resumed on a host without one).
        if shutil.which(argv[0], path=env.get("PATH")) is None:
            return finish("error", f"command not found: {argv[0]}", exit_code=127)
        try:
            argv = sandbox.wrap(argv, cwd)
        except sandbox.SandboxUnavailable as exc:
            return finish("error", f"not run: it needs the sandbox and {exc}", exit_code=126)
    children.install()  # no thread per child to hear it exit
    try:
        process = await anyio.open_process(
            list(argv),
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group, so a kill reaches grandchildren
        )
    except FileNotFoundError:
        return finish("error", f"command not found: {argv[0]}", exit_code=127)
    except PermissionError:
        return finish("error", f"permission denied: cannot execute {argv[0]}", exit_code=126)
    except OSError as exc:
        return finish("error", f"cannot start {argv[0]}: {exc.strerror or exc}", exit_code=126)

    stdout, stderr = CappedBuffer(output_limit), CappedBuffer(output_limit // 4)
    budget = [output_limit]
    timed_out = False
    try:
        with anyio.move_on_after(timeout_s) as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(
                    _pump, process.stdout, stdout, _LineStreamer("stdout", on_output, budget)
                )
                group.start_soon(
                    _pump, process.stderr, stderr, _LineStreamer("stderr", on_output, budget)
                )
            await process.wait()
        timed_out = scope.cancelled_caught
    finally:
        if process.returncode is None:
            # Timed out or the caller was cancelled: end the whole group, politely then firmly.
            with anyio.CancelScope(shield=True):
                _kill_group(process, signal.SIGTERM)
                with anyio.move_on_after(_KILL_GRACE_S):
                    await process.wait()
                _kill_group(process, signal.SIGKILL)
                with anyio.move_on_after(2):
                    await process.wait()
        else:
            # The leader exited; anything it left behind in its group goes too.
            _kill_group(process, signal.SIGKILL)
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await process.aclose()

    truncated = stdout.truncated or stderr.truncated
    content = _compose(stdout, stderr)
    if timed_out:
        note = f"[timed out after {timeout_s:g}s; the process group was killed]"
        return finish("timeout", f"{content.rstrip()}\n{note}".lstrip(), truncated=truncated)
    code = process.returncode
    if code is not None and code < 0:
        content = f"{content.rstrip()}\n[killed by signal {-code}]".lstrip()
    elif code:
        content = f"{content.rstrip()}\n[exit code {code}]".lstrip()
    status = "ok" if code == 0 else "error"
    return finish(status, content, exit_code=code, truncated=truncated)
