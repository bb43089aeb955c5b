"""read_file and tail_log: bounded reads of regular files (and journald units, as argv)."""

from __future__ import annotations

import os
import re
import stat
import time
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opscopilot.redact import redact
from opscopilot.tools.base import Classification, OutputCallback, Tool, ToolResult
from opscopilot.tools.paths import is_forbidden_path, is_sensitive_path, resolve
from opscopilot.tools.process import run_process

MAX_READ_BYTES = 1024 * 1024
_TAIL_BLOCK = 8192
_UNIT_NAME = re.compile(r"^[A-Za-z0-9@_.:\\-]+$")


class ReadFileArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="File to read (absolute, or relative to cwd).")
    max_bytes: int = Field(65536, gt=0, le=MAX_READ_BYTES, description="Bytes to return at most.")


class TailLogArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="Log file to tail.")
    unit: str | None = Field(None, description="A systemd unit: reads `journalctl -u UNIT`.")
    lines: int = Field(100, gt=0, le=5000, description="How many lines from the end.")

    @field_validator("unit")
    @classmethod
    def _unit_is_a_name(cls, unit: str | None) -> str | None:
        if unit is not None and (not _UNIT_NAME.match(unit) or unit.startswith("-")):
            raise ValueError("must be a unit name such as nginx or nginx.service")
        return unit

    @model_validator(mode="after")
    def _exactly_one_source(self) -> TailLogArgs:
        if (self.path is None) == (self.unit is None):
            raise ValueError("give exactly one of path or unit")
        return self


def _elapsed(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _open_checked(path: str) -> tuple[int, os.stat_result, str]:
    """Open a path for reading after resolving it; refuses devices, FIFOs and kernel memory."""
    resolved = resolve(path)
    if is_forbidden_path(resolved):
        raise PermissionError(f"{resolved} is not a file opscopilot reads")
    # O_NONBLOCK: a FIFO swapped in after the check cannot hang the open.
    fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise IsADirectoryError(f"{resolved} is not a regular file")
    os.set_blocking(fd, True)
    return fd, info, resolved


def _describe_os_error(path: str, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{path}: no such file"
    if (
        isinstance(exc, (IsADirectoryError, PermissionError))
        and exc.args
        and isinstance(exc.args[0], str)
    ):
        return exc.args[0]
    return f"{path}: {exc.strerror or exc}"


def _as_text(data: bytes, resolved: str) -> str | None:
    """Decoded text, or None for a binary file (NULs outside /proc, where they separate fields)."""
    if b"\x00" in data:
        if not resolved.startswith("/proc/"):
            return None
        data = data.replace(b"\x00", b" ")
    return data.decode("utf-8", errors="replace")


def read_head(path: str, max_bytes: int) -> ToolResult:
    started = time.monotonic()
    try:
        fd, info, resolved = _open_checked(path)
    except OSError as exc:
        return ToolResult(status="error", content=redact(_describe_os_error(path, exc)))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    truncated = len(data) > max_bytes
    data = data[:max_bytes]
    text = _as_text(data, resolved)
    if text is None:
        return ToolResult(
            status="error",
            content=f"{resolved} is a binary file ({info.st_size} bytes); not shown",
            duration_s=_elapsed(started),
        )
    if truncated:
        total = f" of {info.st_size}" if info.st_size else ""
        text += f"\n[truncated: showed the first {max_bytes}{total} bytes]"
    return ToolResult(
        status="ok", content=redact(text), truncated=truncated, duration_s=_elapsed(started)
    )


def read_tail(path: str, lines: int, max_bytes: int = MAX_READ_BYTES) -> ToolResult:
    """The last `lines` lines, read backwards from the end in blocks (a 10 GiB log is fine)."""
    started = time.monotonic()
    try:
        fd, info, resolved = _open_checked(path)
    except OSError as exc:
        return ToolResult(status="error", content=redact(_describe_os_error(path, exc)))
    with os.fdopen(fd, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:  # /proc-style files report no size: read them forwards
            handle.seek(0)
            data = handle.read(max_bytes)
        else:
            data = b""
            position = end
            while position > 0 and data.count(b"\n") <= lines and len(data) < max_bytes:
                step = min(_TAIL_BLOCK, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    text = _as_text(data, resolved)
    if text is None:
        return ToolResult(
            status="error",
            content=f"{resolved} is a binary file; not shown",
            duration_s=_elapsed(started),
        )
    kept = text.splitlines()[-lines:]
    truncated = len(data) >= max_bytes
    return ToolResult(
        status="ok",
        content=redact("\n".join(kept)),
        truncated=truncated,
        duration_s=_elapsed(started),
        data={"lines": len(kept), "size": info.st_size},
    )


def _path_classification(tool: str, path: Any) -> Classification:
    if not isinstance(path, str) or not path:
        return Classification("write", "no path given", tool=tool, subjects=(tool,))
    resolved = resolve(path)
    subject = f"{tool} {resolved}"
    if is_sensitive_path(resolved):
        return Classification(
            "write",
            f"{resolved} may hold secrets",
            tool=tool,
            command=subject,
            subjects=(tool, subject),
        )
    return Classification(
        "read", f"reads {resolved}", tool=tool, command=subject, subjects=(tool, subject)
    )


class ReadFileTool(Tool):
    name = "read_file"
    in_process = True  # opens the file itself: guarded by paths.py, not by the OS sandbox
    description = "Read a text file (config, log, unit file) up to max_bytes from its start."
    args_model = ReadFileArgs

    def classify(self, arguments: dict[str, Any]) -> Classification:
        return _path_classification(self.name, arguments.get("path"))

    async def run(
        self,
        args: BaseModel | dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
        approved_shell: bool = False,
    ) -> ToolResult:
        parsed = self.validate(args)
        assert isinstance(parsed, ReadFileArgs)
        return await anyio.to_thread.run_sync(read_head, parsed.path, parsed.max_bytes)


class TailLogTool(Tool):
    name = "tail_log"
    description = (
        "The last lines of a log file (path), or of a systemd unit's journal (unit, runs "
        "`journalctl -u UNIT -n LINES --no-pager`)."
    )
    args_model = TailLogArgs

    @staticmethod
    def journal_argv(unit: str, lines: int) -> list[str]:
        return ["journalctl", "-u", unit, "-n", str(lines), "--no-pager"]

    def classify(self, arguments: dict[str, Any]) -> Classification:
        unit = arguments.get("unit")
        if unit is not None:
            if not isinstance(unit, str) or not _UNIT_NAME.match(unit) or unit.startswith("-"):
                return Classification(
                    "write", "not a unit name", tool=self.name, subjects=(self.name,)
                )
            command = " ".join(self.journal_argv(unit, int(arguments.get("lines") or 100)))
            return Classification(
                "read",
                f"reads the journal of {unit}",
                tool=self.name,
                command=f"{self.name} unit:{unit}",
                subjects=(self.name, f"{self.name} unit:{unit}", command),
            )
        return _path_classification(self.name, arguments.get("path"))

    async def run(
        self,
        args: BaseModel | dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
        approved_shell: bool = False,
    ) -> ToolResult:
        parsed = self.validate(args)
        assert isinstance(parsed, TailLogArgs)
        if parsed.unit is not None:
            return await run_process(
                self.journal_argv(parsed.unit, parsed.lines), timeout_s=30, on_output=on_output
            )
        assert parsed.path is not None
        return await anyio.to_thread.run_sync(read_tail, parsed.path, parsed.lines)
