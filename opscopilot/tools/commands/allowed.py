"""The allow-list entry of a read-only program: its options, its operands, its subcommands.

`Program.judge(args, cwd)` answers whether a call runs without a person: only when every
word is understood and allowed. Otherwise it says which word was not, and the call asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from opscopilot.tools.option_tables import (
    Abbreviations,
    OptionTable,
    ParsedOptions,
    ValueCheck,
    parse_options,
)
from opscopilot.tools.paths import is_forbidden_path, is_sensitive_path, resolve


@dataclass(frozen=True)
class Allowed:
    """An allow-list answer: `ok` (runs without a person) or why not."""

    ok: bool
    reason: str
    network: bool = False  # the command's job is a network read (the sandbox keeps the network)


def allowed(reason: str, network: bool = False) -> Allowed:
    return Allowed(True, reason, network)


def refused(reason: str) -> Allowed:
    return Allowed(False, reason)


# What the operands (non-option words) of a program may be.
#   none: no operands; any: any words (names, numbers, patterns the program does not open);
#   files: paths the program reads, each checked against the secret paths;
#   pattern+files: the first word is a pattern (unless -e/-f gave one), the rest are files.
Operands = Literal["none", "any", "files", "pattern+files"]
OperandCheck = Callable[[list[str], ParsedOptions], "str | None"]


def file_problem(path: str, cwd: str | None) -> str | None:
    """Why reading `path` needs a person (it may hold secrets, or is a device), or None."""
    if not path or path == "-":
        return None
    resolved = resolve(path, cwd)
    if is_sensitive_path(resolved):
        return f"{path} may hold secrets"
    if is_forbidden_path(resolved):
        return f"{path} is a device or kernel memory"
    return None


@dataclass(frozen=True)
class Program:
    """One read-only program (or one subcommand of one) and what it may take without a person."""

    name: str
    options: str = ""
    operands: Operands = "any"
    max_operands: int | None = None
    min_operands: int = 0
    abbreviations: Abbreviations = "exact"
    numeric: bool = False
    checks: Mapping[str, ValueCheck] = field(default_factory=dict)
    operand_check: OperandCheck | None = None
    verbs: Mapping[str, Program] | None = None  # subcommand programs: the first operand
    default_verb: str | None = None  # what a call without a verb does (None: not allowed)
    network: bool = False
    reason: str = ""
    options_after_verb: bool = False  # the options also follow the verb (systemctl, kubectl)
    others: str = ""  # the program's other long options: abbreviations resolve among all

    def table(self) -> OptionTable:
        return _table(self)

    def judge(self, args: Sequence[str], cwd: str | None = None, prefix: str = "") -> Allowed:
        label = f"{prefix}{self.name}"
        parsed = parse_options(args, self.table(), stop_at_operand=self.verbs is not None)
        if parsed.problem:
            return refused(f"{label}: {parsed.problem}")
        for spec, value in parsed.options:
            if spec.reads_file and value is not None and (why := file_problem(value, cwd)):
                return refused(f"{label} {spec.canonical}: {why}")
        if self.verbs is not None:
            return self._judge_verb(parsed, cwd, label)
        why = self._operand_problem(parsed, cwd)
        if why:
            return refused(f"{label}: {why}")
        return allowed(self.reason or f"{label} only reads", self.network)

    def _judge_verb(self, parsed: ParsedOptions, cwd: str | None, label: str) -> Allowed:
        assert self.verbs is not None
        if not parsed.operands:
            if self.default_verb is None:
                if parsed.options and all(
                    spec.canonical in _ONLY_ABOUT for spec, _ in parsed.options
                ):
                    return allowed(f"{label} only prints its version or help")
                return refused(f"{label} without a subcommand")
            verb, rest = self.default_verb, []
        else:
            verb, rest = parsed.operands[0], parsed.operands[1:]
        sub = self.verbs.get(verb)
        if sub is None:
            return refused(f"{label} {verb} is not a read-only subcommand")
        if self.options_after_verb and self.options:
            sub = _with_parent_options(sub, self)
        return sub.judge(rest, cwd, prefix=f"{label} ")

    def _operand_problem(self, parsed: ParsedOptions, cwd: str | None) -> str | None:
        operands = parsed.operands
        if self.max_operands is not None and len(operands) > self.max_operands:
            return f"takes at most {self.max_operands} operand(s) without asking"
        if len(operands) < self.min_operands:
            return f"needs {self.min_operands} operand(s)"
        if self.operands == "none" and operands:
            return f"{operands[0]!r} is not an allowed argument"
        files: list[str] = []
        if self.operands == "files":
            files = operands
        elif self.operands == "pattern+files":
            files = operands if parsed.has("-e", "--regexp") else operands[1:]
        for path in files:
            if why := file_problem(path, cwd):
                return why
        if self.operand_check is not None:
            return self.operand_check(operands, parsed)
        return None


_ONLY_ABOUT = frozenset({"--version", "--help", "-V", "-h"})
_TABLES: dict[int, OptionTable] = {}


def _table(program: Program) -> OptionTable:
    # Programs are frozen module-level data: build each table once.
    key = id(program)
    table = _TABLES.get(key)
    if table is None:
        table = OptionTable.of(
            program.options,
            abbreviations=program.abbreviations,
            numeric=program.numeric,
            checks=program.checks,
            others=program.others,
        )
        _TABLES[key] = table
    return table


_MERGED: dict[tuple[int, int], Program] = {}


def _with_parent_options(sub: Program, parent: Program) -> Program:
    key = (id(sub), id(parent))
    if key not in _MERGED:
        # Keep references alive so ids stay unique for the cache's lifetime.
        _MERGED[key] = Program(
            sub.name,
            f"{parent.options} {sub.options}",
            sub.operands,
            sub.max_operands,
            sub.min_operands,
            parent.abbreviations,
            sub.numeric or parent.numeric,
            {**parent.checks, **sub.checks},
            sub.operand_check,
            sub.verbs,
            sub.default_verb,
            sub.network or parent.network,
            sub.reason,
            sub.options_after_verb or parent.options_after_verb,
            f"{parent.others} {sub.others}",
        )
    return _MERGED[key]
