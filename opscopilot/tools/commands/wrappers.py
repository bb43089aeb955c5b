"""Wrappers: programs that run another program (env, sudo, nice, timeout, xargs …).

A wrapper's own options are checked against its table (an option not on it asks: it may
name a file to write, a program, or swallow the command), then the command it runs is
judged. When its options are not understood, the command is still looked for the old,
rough way so that `sudo --odd rm -rf /` is graded destructive, never lower.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from opscopilot.tools.argv_parsing import parse_args
from opscopilot.tools.base import Risk
from opscopilot.tools.option_tables import OptionTable, ParsedOptions, parse_options

ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
HARMLESS_VARIABLES = re.compile(
    r"^(LANG|LANGUAGE|LC_[A-Z]+|TZ|COLUMNS|LINES|TERM|NO_COLOR|FORCE_COLOR|SYSTEMD_COLORS)$"
)
# Their values stay names: `LC_ALL=/tmp/x` or `TZ=/path` would load a file of the caller's choice.
_HARMLESS_VALUE = re.compile(r"^(?![/:.])(?!.*\.\.)[A-Za-z0-9_.@+,:=/-]*$")


def harmless_assignment(name: str, value: str) -> bool:
    """True for `LANG=C`, `TZ=Europe/Paris`, `COLUMNS=200`: a setting that changes no code path."""
    return bool(HARMLESS_VARIABLES.match(name)) and bool(_HARMLESS_VALUE.match(value))


@dataclass
class Wrapped:
    """A wrapper's own floor risk and the command it runs (None: runs nothing)."""

    inner: list[str] | None
    risk: Risk = "read"
    reason: str = ""
    shell_string: str | None = None  # the wrapper hands this string to a shell (sh -c, watch)
    local_shell: bool = True  # False: a remote shell (ssh) — dangerous, but not ours to run


def _gnu(text: str, numeric: bool = False) -> OptionTable:
    return OptionTable.of(text, abbreviations="gnu", numeric=numeric)


_TABLES = {
    "env": _gnu(
        "-i/--ignore-environment -0/--null -u/--unset=NAME -S/--split-string=STRING "
        "-v/--debug --help --version"
    ),
    "sudo": _gnu(
        "-n/--non-interactive -u/--user=USER -g/--group=GROUP -H/--set-home -E "
        "--preserve-env -k/--reset-timestamp -S/--stdin -s/--shell -i/--login"
    ),
    "doas": OptionTable.of("-n -u=USER -s"),
    "nohup": _gnu("--help --version"),
    "command": OptionTable.of(""),
    "time": _gnu("-f/--format=FORMAT -p/--portability -v/--verbose -q/--quiet --help -V/--version"),
    "setsid": _gnu("-c/--ctty -f/--fork -w/--wait -h/--help -V/--version"),
    "timeout": _gnu(
        "-s/--signal=SIGNAL -k/--kill-after=DURATION --preserve-status --foreground "
        "-v/--verbose --help --version"
    ),
    "nice": _gnu("-n/--adjustment=N --help --version", numeric=True),
    "stdbuf": _gnu("-i/--input=MODE -o/--output=MODE -e/--error=MODE --help --version"),
    "ionice": _gnu("-c/--class=CLASS -n/--classdata=N -t/--ignore -h/--help -V/--version"),
    "xargs": _gnu(
        "-0/--null -d/--delimiter=DELIM -E=EOF -e/--eof[=EOF] -I=REPLACE -i/--replace[=REPLACE] "
        "-L=N -l/--max-lines[=N] -n/--max-args=N -P/--max-procs=N -r/--no-run-if-empty "
        "-s/--max-chars=N -t/--verbose -x/--exit --show-limits --help --version"
    ),
    "watch": _gnu(
        "-n/--interval=SECONDS -x/--exec -t/--no-title -d/--differences[=PERMANENT] "
        "-e/--errexit -g/--chgexit -b/--beep -c/--color -p/--precise "
        "-w/--no-wrap -q/--equexit=CYCLES -h/--help -v/--version"
    ),
}
# Rough arity for the fallback search of the command (when the table did not understand).
_ROUGH_VALUES = {
    "env": {"-u", "--unset", "-C", "--chdir", "-S", "--split-string"},
    "sudo": {
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
    "time": {"-f", "--format", "-o", "--output"},
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "nice": {"-n", "--adjustment"},
    "stdbuf": {"-i", "--input", "-o", "--output", "-e", "--error"},
    "ionice": {"-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"},
    "xargs": {
        "-a",
        "--arg-file",
        "-d",
        "--delimiter",
        "-E",
        "-I",
        "-L",
        "-n",
        "--max-args",
        "-P",
        "--max-procs",
        "-s",
        "--max-chars",
        "--process-slot-var",
    },
    "watch": {"-n", "--interval", "-q", "--equexit"},
}


def _parse(name: str, args: list[str]) -> tuple[ParsedOptions, Wrapped | None]:
    """Parse a wrapper's options; on a word it does not allow, a write floor and a rough inner."""
    parsed = parse_options(args, _TABLES[name], stop_at_operand=True)
    if parsed.problem is None:
        return parsed, None
    rough = parse_args(args, _ROUGH_VALUES.get(name, set()), stop_at_positional=True)
    return parsed, Wrapped(rough.rest or None, "write", f"{name}: {parsed.problem}")


def env(args: list[str]) -> Wrapped:
    parsed, failed = _parse("env", args)
    if failed:
        return failed
    rest = list(parsed.operands)
    risk: Risk = "read"
    reason = "env wrapper"
    while rest and (match := ASSIGNMENT.match(rest[0])):
        if not harmless_assignment(match.group(1), match.group(2)):
            risk, reason = "write", f"sets {match.group(1)} for the command"
        rest.pop(0)
    for split in parsed.values("-S", "--split-string"):
        try:
            rest = shlex.split(split) + rest
        except ValueError:
            return Wrapped(None, "write", "env -S string cannot be split")
    if not rest:
        return Wrapped(None, "write", "prints the environment, which may hold secrets")
    return Wrapped(rest, risk, reason)


def sudo(args: list[str], name: str = "sudo") -> Wrapped:
    parsed, failed = _parse(name, args)
    if failed:
        return failed
    rest = parsed.operands
    if parsed.has("-s", "--shell", "-i", "--login"):
        return Wrapped(
            None,
            "write",
            f"{name} runs the command through a root shell",
            shell_string=shlex.join(rest) if rest else "",
        )
    if not rest:
        return Wrapped(
            None, "write", f"{name} without a command opens a root shell or changes state"
        )
    return Wrapped(rest, "read", f"{name} wrapper")


def _then(name: str, skip: int = 0) -> object:
    """A wrapper whose command follows its options (and `skip` operands, e.g. a duration)."""

    def wrapper(args: list[str]) -> Wrapped:
        parsed, failed = _parse(name, args)
        if failed:
            return failed
        rest = parsed.operands[skip:]
        if not rest:
            ran = "read" if not parsed.operands else "write"
            return Wrapped(None, ran, f"{name} runs nothing")  # type: ignore[arg-type]
        return Wrapped(rest, "read", f"{name} wrapper")

    return wrapper


def xargs(args: list[str]) -> Wrapped:
    parsed, failed = _parse("xargs", args)
    if failed:
        return failed
    return Wrapped(parsed.operands or ["echo"], "read", "xargs wrapper")


def watch(args: list[str]) -> Wrapped:
    parsed, failed = _parse("watch", args)
    if failed:
        return failed
    if not parsed.operands:
        return Wrapped(None, "write", "watch runs nothing")
    if parsed.has("-x"):
        return Wrapped(parsed.operands, "read", "watch wrapper")
    return Wrapped(
        None, "read", "watch runs its command through sh -c", shell_string=" ".join(parsed.operands)
    )


def shell(args: list[str]) -> Wrapped:
    parsed = parse_args(args, {"-o", "-O", "+O"}, stop_at_positional=True)
    if parsed.has("-c") and parsed.rest:
        return Wrapped(None, "write", "runs a shell", shell_string=parsed.rest[0])
    return Wrapped(None, "write", "runs a shell script or an interactive shell")


def su(args: list[str]) -> Wrapped:
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
        return Wrapped(None, "write", "opens a shell as another user")
    return Wrapped(
        None, "write", "runs a command as another user through a shell", shell_string=command
    )


def ssh(args: list[str]) -> Wrapped:
    parsed = parse_args(
        args,
        set(
            [
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
            ]
        ),
        stop_at_positional=True,
    )
    remote = parsed.rest[1:]
    if not remote:
        return Wrapped(None, "write", "opens a remote session")
    return Wrapped(
        None,
        "write",
        "runs a command on a remote host",
        shell_string=" ".join(remote),
        local_shell=False,
    )


def chroot(args: list[str]) -> Wrapped:
    parsed = parse_args(args, {"--userspec", "--groups"}, stop_at_positional=True)
    return Wrapped(parsed.rest[1:] or None, "write", "runs a command in a chroot")


def systemd_run(args: list[str]) -> Wrapped:
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
    return Wrapped(parsed.rest or None, "write", "starts a transient systemd unit")


def busybox(args: list[str]) -> Wrapped:
    if not args:
        return Wrapped(None, "read", "lists busybox applets")
    return Wrapped(args, "read", "busybox applet")


WRAPPERS = {
    "env": env,
    "sudo": sudo,
    "doas": lambda args: sudo(args, "doas"),
    "nohup": _then("nohup"),
    "command": _then("command"),
    "time": _then("time"),
    "setsid": _then("setsid"),
    "timeout": _then("timeout", skip=1),
    "nice": _then("nice"),
    "stdbuf": _then("stdbuf"),
    "ionice": _then("ionice"),
    "xargs": xargs,
    "watch": watch,
    "su": su,
    "runuser": su,
    "ssh": ssh,
    "chroot": chroot,
    "systemd-run": systemd_run,
    "busybox": busybox,
}
