"""Classify a command line by parsing it: wrappers seen through, shell syntax found, argv judged.

`CommandClassifier.command(text)` is the entry point. It never trusts a label: the risk is
the highest risk of anything the command would run (every segment of a pipeline, every
command substitution, the command behind sudo/env/timeout/xargs/find -exec/sh -c …).
A call is read only when the allow-list (`commands.ALLOWED`) understands and allows every
word of every command it would run; the graders only tell write from destructive.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from opscopilot.tools.base import Risk, riskier
from opscopilot.tools.commands import ALLOWED, DESTRUCTIVE_PROGRAMS, GRADERS, SHELLS
from opscopilot.tools.commands.wrappers import ASSIGNMENT, WRAPPERS, harmless_assignment
from opscopilot.tools.commands.wrappers import shell as _shell_wrapper
from opscopilot.tools.shell_syntax import scan_shell

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
    network: bool = False  # a read whose job is the network (curl, dig, kubectl …)


class CommandClassifier:
    """Walks one command; collects rule subjects and whether a local shell is needed."""

    def __init__(self, cwd: str | None = None) -> None:
        self.cwd = cwd
        self.subjects: list[str] = []
        self.needs_shell = False
        self.invokes_shell = False
        self.network = False

    # --- entry points -----------------------------------------------------------------

    def command(self, text: str) -> CommandVerdict:
        risk, reason = self._string(text, depth=0, local_shell=True)
        normalized = normalize_command(text)
        subjects = [normalized, *[s for s in self.subjects if s != normalized]]
        network = self.network and risk == "read"
        return CommandVerdict(risk, reason, self.needs_shell, subjects, self.invokes_shell, network)

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
        while argv and (match := ASSIGNMENT.match(argv[0])):
            if not harmless_assignment(match.group(1), match.group(2)):
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
        if (judge := ALLOWED.get(program)) is not None:
            verdict = judge(args, self.cwd)
            if verdict.ok:
                self.network = self.network or verdict.network
                return "read", verdict.reason
            refusal = verdict.reason
        else:
            refusal = f"{program} is not a known read-only command"
        return self._grade(program, args, depth, refusal)

    def _grade(self, program: str, args: list[str], depth: int, refusal: str) -> tuple[Risk, str]:
        """A call the allow-list did not allow: write, or destructive by the graders."""
        if program in DESTRUCTIVE_PROGRAMS or program.startswith("mkfs"):
            return "destructive", f"{program} destroys data or stops the system"
        grader = GRADERS.get(program)
        if grader is None:
            return "write", refusal
        judged = grader(args)
        risk = riskier("write", judged.risk)
        reason = judged.reason if judged.risk == "destructive" else refusal
        if judged.inner is not None:
            inner_risk, inner_reason = self._argv(judged.inner, depth + 1)
            return riskier(risk, inner_risk), f"{judged.reason}; runs: {inner_reason}"
        return risk, reason


RISK_RANK = {"read": 0, "write": 1, "destructive": 2}


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
