"""Classify a command line by parsing it: wrappers seen through, shell syntax found, argv judged.

`CommandClassifier.command(text)` is the entry point. It never trusts a label: the risk is
the highest risk of anything the command would run (every segment of a pipeline, every
command substitution, the command behind sudo/env/timeout/xargs/find -exec/sh -c …).
Per-program rules live in command_tables.py.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from opscopilot.tools.argv_parsing import parse_args
from opscopilot.tools.base import Risk, riskier
from opscopilot.tools.commands import (
    DESTRUCTIVE_PROGRAMS,
    READ_PROGRAMS,
    SHELLS,
    SUBCOMMAND_RULES,
    Judged,
)
from opscopilot.tools.paths import is_sensitive_path, resolve
from opscopilot.tools.shell_syntax import scan_shell

_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
_HARMLESS_VARIABLES = re.compile(
    r"^(LANG|LANGUAGE|LC_[A-Z]+|TZ|COLUMNS|LINES|TERM|NO_COLOR|FORCE_COLOR|SYSTEMD_COLORS)$"
)
_SYSTEM_DIRS = {"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}
_MAX_DEPTH = 12
_REDIRECTION = re.compile(r"^\d*(>>?|<<?<?|>&|<&|&>>?)")


@dataclass
class CommandVerdict:
    risk: Risk
    reason: str
    needs_shell: bool = False
    subjects: list[str] = field(default_factory=list)
    invokes_shell: bool = False  # run as argv, it would still start a shell (sh -c, watch, su -c)


@dataclass
class _Wrapped:
    """A wrapper's own floor risk and the command it runs (None: runs nothing)."""

    inner: list[str] | None
    risk: Risk = "read"
    reason: str = ""
    shell_string: str | None = None  # the wrapper hands this string to a shell (sh -c, watch)
    local_shell: bool = True  # False: a remote shell (ssh) — dangerous, but not ours to run


class CommandClassifier:
    """Walks one command; collects rule subjects and whether a local shell is needed."""

    def __init__(self, cwd: str | None = None) -> None:
        self.cwd = cwd
        self.subjects: list[str] = []
        self.needs_shell = False
        self.invokes_shell = False

    # --- entry points -----------------------------------------------------------------

    def command(self, text: str) -> CommandVerdict:
        risk, reason = self._string(text, depth=0, local_shell=True)
        normalized = normalize_command(text)
        subjects = [normalized, *[s for s in self.subjects if s != normalized]]
        return CommandVerdict(risk, reason, self.needs_shell, subjects, self.invokes_shell)

    # --- strings (what a shell would read) ----------------------------------------------

    def _string(self, text: str, depth: int, local_shell: bool) -> tuple[Risk, str]:
        if depth > _MAX_DEPTH:
            return "write", "nested too deeply to classify"
        scan = scan_shell(text)
        if not scan.balanced:
            if local_shell:
                self.needs_shell = True
            return "write", "unbalanced quotes or substitution"
        risk: Risk = "read"
        reasons: list[str] = []
        read_reasons: list[str] = []
        if scan.needs_shell:
            if local_shell:
                self.needs_shell = True
            risk = "write"
            reasons.append("shell syntax (" + ", ".join(scan.features) + ")")
        if scan.writes_file:
            reasons.append("writes a file with >")
        for segment in scan.segments:
            try:
                argv = shlex.split(segment)
            except ValueError:
                risk, reasons = riskier(risk, "write"), [*reasons, "cannot split into words"]
                continue
            if scan.needs_shell:
                argv = _without_grouping(_without_redirections(argv))
            seg_risk, seg_reason = self._argv(argv, depth + 1)
            if seg_risk == "read":
                read_reasons.append(seg_reason)
            risk = self._merge(risk, reasons, seg_risk, seg_reason)
        for body in scan.substitutions:
            sub_risk, sub_reason = self._string(body, depth + 1, local_shell)
            risk = self._merge(risk, reasons, sub_risk, f"substitution runs: {sub_reason}")
        if not scan.segments:
            return "write", "empty command"
        return risk, "; ".join(reasons or read_reasons[:1]) or "read-only command"

    @staticmethod
    def _merge(risk: Risk, reasons: list[str], new_risk: Risk, new_reason: str) -> Risk:
        # Keep the reasons that explain the highest risk seen so far.
        if new_risk != "read" and new_reason not in reasons:
            reasons.append(new_reason)
        return riskier(risk, new_risk)

    # --- argv -------------------------------------------------------------------------

    def _argv(self, argv: Sequence[str], depth: int) -> tuple[Risk, str]:
        if depth > _MAX_DEPTH:
            return "write", "nested too deeply to classify"
        argv = list(argv)
        floor: Risk = "read"
        floor_reason = ""
        while argv and (match := _ASSIGNMENT.match(argv[0])):
            if not _HARMLESS_VARIABLES.match(match.group(1)):
                floor, floor_reason = "write", f"sets {match.group(1)} for the command"
            argv.pop(0)
        if not argv:
            return "write", floor_reason or "empty command"
        program_path = argv[0]
        program = os.path.basename(program_path)
        self.subjects.append(normalize_argv(argv))
        if program != program_path:
            self.subjects.append(normalize_argv([program, *argv[1:]]))
            directory = os.path.dirname(program_path)
            if directory not in _SYSTEM_DIRS:
                floor, floor_reason = "write", f"runs {program_path}, not a system program"
        risk, reason = self._program(program, argv[1:], depth)
        if floor == "write" and risk == "read":
            return floor, floor_reason
        return risk, reason

    def _program(self, program: str, args: list[str], depth: int) -> tuple[Risk, str]:
        wrapper = WRAPPERS.get(program)
        if program in SHELLS:
            self.needs_shell = self.invokes_shell = True  # whatever it runs, a shell runs it
            wrapper = _shell_wrapper
        if wrapper is not None:
            wrapped = wrapper(args)
            risk, reason = wrapped.risk, wrapped.reason or f"{program} wrapper"
            if wrapped.shell_string is not None:
                if wrapped.local_shell:
                    # A shell will interpret this string: it runs only after approval.
                    self.needs_shell = self.invokes_shell = True
                inner_risk, inner_reason = self._string(
                    wrapped.shell_string, depth + 1, wrapped.local_shell
                )
                risk = riskier(riskier(risk, "write"), inner_risk)
                return risk, f"{reason}; runs: {inner_reason}"
            if wrapped.inner is not None:
                inner_risk, inner_reason = self._argv(wrapped.inner, depth + 1)
                if RISK_RANK[inner_risk] >= RISK_RANK[risk]:
                    reason = inner_reason
                return riskier(risk, inner_risk), reason
            return risk, reason
        if program in SUBCOMMAND_RULES:
            judged = SUBCOMMAND_RULES[program](args)
            if judged.inner is not None:
                inner_risk, inner_reason = self._argv(judged.inner, depth + 1)
                risk = riskier(judged.risk, inner_risk)
                return risk, f"{judged.reason}; runs: {inner_reason}"
            if judged.risk == "read" and program in FILE_READERS:
                return self._read_with_paths(program, args, judged)
            return judged.risk, judged.reason
        if program in DESTRUCTIVE_PROGRAMS or program.startswith("mkfs"):
            return "destructive", f"{program} destroys data or stops the system"
        if program in READ_PROGRAMS:
            return self._read_with_paths(program, args, Judged("read", f"{program} only reads"))
        return "write", f"{program} is not a known read-only command"

    def _read_with_paths(self, program: str, args: list[str], judged: Judged) -> tuple[Risk, str]:
        """A read-only program still needs approval when it reads a file holding secrets."""
        for arg in args:
            candidate = arg.partition("=")[2] if arg.startswith("-") else arg
            if not candidate or candidate.startswith("-") or "://" in candidate:
                continue
            if is_sensitive_path(resolve(candidate, self.cwd)):
                return "write", f"{program} would read {candidate}, which may hold secrets"
        return judged.risk, judged.reason


RISK_RANK = {"read": 0, "write": 1, "destructive": 2}
# Subcommand-ruled programs whose positional words are files they read.
FILE_READERS = frozenset({"find", "sort", "uniq", "tar", "sed"})


def normalize_argv(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def normalize_command(text: str) -> str:
    """The form rules match: words re-joined with single spaces (the raw text if unsplittable)."""
    if scan_shell(text).needs_shell:
        return " ".join(text.split())
    try:
        return shlex.join(shlex.split(text))
    except ValueError:
        return " ".join(text.split())


_SHELL_KEYWORDS = {
    "(",
    ")",
    "{",
    "}",
    "!",
    "if",
    "then",
    "do",
    "else",
    "elif",
    "while",
    "until",
    "fi",
    "done",
    "esac",
}


def _without_grouping(argv: list[str]) -> list[str]:
    """`(rm x)`, `{ rm x; }`, `if rm x` and `! rm x` all run `rm x`."""
    argv = [w.lstrip("(") if i == 0 else w for i, w in enumerate(argv)]
    while argv and (argv[0] in _SHELL_KEYWORDS or not argv[0]):
        argv = argv[1:]
        if argv:
            argv[0] = argv[0].lstrip("(")
    while argv and argv[-1] in _SHELL_KEYWORDS:
        argv = argv[:-1]
    if argv and argv[-1].endswith(")"):
        argv[-1] = argv[-1].rstrip(")")
    return [w for w in argv if w]


def _without_redirections(argv: list[str]) -> list[str]:
    kept: list[str] = []
    skip_next = False
    for word in argv:
        if skip_next:
            skip_next = False
            continue
        match = _REDIRECTION.match(word)
        if match:
            skip_next = match.end() == len(word)  # `> file` (target is the next word)
            continue
        kept.append(word)
    return kept


# --- wrappers: programs that run another program ------------------------------------------


def _env(args: list[str]) -> _Wrapped:
    parsed = parse_args(
        args, {"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}, stop_at_positional=True
    )
    split = parsed.value("-S", "--split-string")
    rest = list(parsed.rest)
    risk: Risk = "read"
    reason = "env wrapper"
    while rest and (match := _ASSIGNMENT.match(rest[0])):
        if not _HARMLESS_VARIABLES.match(match.group(1)):
            risk, reason = "write", f"sets {match.group(1)} for the command"
        rest.pop(0)
    if split is not None:
        try:
            rest = shlex.split(split) + rest
        except ValueError:
            return _Wrapped(None, "write", "env -S string cannot be split")
    if not rest:
        return _Wrapped(None, "write", "prints the environment, which may hold secrets")
    return _Wrapped(rest, risk, reason)


def _sudo(args: list[str]) -> _Wrapped:
    parsed = parse_args(
        args,
        {
            "-u",
            "--user",
            "-g",
            "--group",
            "-h",
            "--host",
            "-p",
            "--prompt",
            "-C",
            "--close-from",
            "-D",
            "--chdir",
            "-r",
            "--role",
            "-t",
            "--type",
            "-T",
            "--command-timeout",
            "-U",
            "--other-user",
            "-R",
            "--chroot",
        },
        stop_at_positional=True,
    )
    if parsed.rest:
        if parsed.has("-s", "--shell", "-i", "--login"):
            return _Wrapped(
                None,
                "write",
                "sudo runs the command through a root shell",
                shell_string=shlex.join(parsed.rest),
            )
        if parsed.has("-e", "--edit"):
            return _Wrapped(None, "write", "sudo -e edits files as root")
        return _Wrapped(parsed.rest, "read", "sudo wrapper")
    if parsed.has("-l", "--list"):
        return _Wrapped(None, "read", "lists sudo rights")
    return _Wrapped(None, "write", "sudo without a command opens a root shell or changes state")


def _skip_then(with_value: set[str], positionals_to_skip: int = 0, name: str = "") -> object:
    def wrapper(args: list[str]) -> _Wrapped:
        parsed = parse_args(args, with_value, stop_at_positional=True)
        rest = parsed.rest[positionals_to_skip:]
        if not rest:
            return _Wrapped(None, "read" if not parsed.rest else "write", f"{name} runs nothing")
        return _Wrapped(rest, "read", f"{name} wrapper")

    return wrapper


def _ionice(args: list[str]) -> _Wrapped:
    parsed = parse_args(
        args,
        {"-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"},
        stop_at_positional=True,
    )
    if parsed.has("-p", "--pid", "-P", "--pgid", "-u", "--uid"):
        return _Wrapped(None, "write", "changes the I/O priority of running processes")
    return _Wrapped(parsed.rest or None, "read", "ionice wrapper")


def _xargs(args: list[str]) -> _Wrapped:
    parsed = parse_args(
        args,
        {
            "-a",
            "--arg-file",
            "-d",
            "--delimiter",
            "-E",
            "-I",
            "-L",
            "--max-lines",
            "-n",
            "--max-args",
            "-P",
            "--max-procs",
            "-s",
            "--max-chars",
            "--process-slot-var",
        },
        stop_at_positional=True,
        optional_value={"-i", "-l", "-e"},
    )
    return _Wrapped(parsed.rest or ["echo"], "read", "xargs wrapper")


def _shell_wrapper(args: list[str]) -> _Wrapped:
    parsed = parse_args(args, {"-o", "-O", "+O"}, stop_at_positional=True)
    if parsed.has("-c") and parsed.rest:
        return _Wrapped(None, "write", "runs a shell", shell_string=parsed.rest[0])
    return _Wrapped(None, "write", "runs a shell script or an interactive shell")


def _watch(args: list[str]) -> _Wrapped:
    parsed = parse_args(
        args,
        {"-n", "--interval", "-d", "-q", "--equexit"},
        stop_at_positional=True,
        optional_value={"-d"},
    )
    if not parsed.rest:
        return _Wrapped(None, "write", "watch runs nothing")
    if parsed.has("-x", "--exec"):
        return _Wrapped(parsed.rest, "read", "watch wrapper")
    return _Wrapped(
        None, "read", "watch runs its command through sh -c", shell_string=" ".join(parsed.rest)
    )


def _su(args: list[str]) -> _Wrapped:
    parsed = parse_args(
        args,
        {
            "-c",
            "--command",
            "-s",
            "--shell",
            "-g",
            "--group",
            "-G",
            "--supp-group",
            "-w",
            "--whitelist-environment",
        },
    )
    command = parsed.value("-c", "--command")
    if command is None:
        return _Wrapped(None, "write", "opens a shell as another user")
    return _Wrapped(
        None, "write", "runs a command as another user through a shell", shell_string=command
    )


def _ssh(args: list[str]) -> _Wrapped:
    parsed = parse_args(
        args,
        {
            "-b",
            "-c",
            "-D",
            "-E",
            "-e",
            "-F",
            "-I",
            "-i",
            "-J",
            "-L",
            "-l",
            "-m",
            "-O",
            "-o",
            "-p",
            "-Q",
            "-R",
            "-S",
            "-W",
            "-w",
            "-B",
        },
        stop_at_positional=True,
    )
    remote = parsed.rest[1:]
    if not remote:
        return _Wrapped(None, "write", "opens a remote session")
    return _Wrapped(
        None,
        "write",
        "runs a command on a remote host",
        shell_string=" ".join(remote),
        local_shell=False,
    )


def _chroot(args: list[str]) -> _Wrapped:
    parsed = parse_args(args, {"--userspec", "--groups"}, stop_at_positional=True)
    return _Wrapped(parsed.rest[1:] or None, "write", "runs a command in a chroot")


def _systemd_run(args: list[str]) -> _Wrapped:
    parsed = parse_args(
        args,
        {
            "-u",
            "--unit",
            "-p",
            "--property",
            "-E",
            "--setenv",
            "-M",
            "--machine",
            "-H",
            "--host",
            "--slice",
            "--uid",
            "--gid",
            "--working-directory",
            "--description",
            "--on-calendar",
        },
        stop_at_positional=True,
    )
    return _Wrapped(parsed.rest or None, "write", "starts a transient systemd unit")


def _busybox(args: list[str]) -> _Wrapped:
    if not args:
        return _Wrapped(None, "read", "lists busybox applets")
    return _Wrapped(args, "read", "busybox applet")


WRAPPERS = {
    "env": _env,
    "sudo": _sudo,
    "doas": _sudo,
    "nohup": _skip_then(set(), 0, "nohup"),
    "command": _skip_then(set(), 0, "command"),
    "time": _skip_then({"-f", "--format", "-o", "--output"}, 0, "time"),
    "setsid": _skip_then(set(), 0, "setsid"),
    "timeout": _skip_then({"-s", "--signal", "-k", "--kill-after"}, 1, "timeout"),
    "nice": _skip_then({"-n", "--adjustment"}, 0, "nice"),
    "stdbuf": _skip_then({"-i", "--input", "-o", "--output", "-e", "--error"}, 0, "stdbuf"),
    "ionice": _ionice,
    "xargs": _xargs,
    "watch": _watch,
    "su": _su,
    "runuser": _su,
    "ssh": _ssh,
    "chroot": _chroot,
    "systemd-run": _systemd_run,
    "busybox": _busybox,
}
