"""Option tables: which options a program may take without a person, parsed as it parses them.

A table is written the way a manual page lists options, one group per word:

    "-n/--lines=N  -q/--quiet/--silent  --color[=WHEN]  -f/--file=FILE"

`-n/--lines=N` is one option with two names that needs a value (attached, `--lines=5`,
`-n5`, or the next word); `--color[=WHEN]` takes a value only when attached (getopt's
optional argument); a bare name is a flag. A value named `FILE` is a file the program
will read, so it gets the same secret-path check as file operands.

`parse_options` reads argv the way getopt_long does (clusters like `-tlnp`, `-ovalue`,
`--opt=value`, `--` ending the options, permuted operands unless told to stop at the first
one). Long options are matched exactly, or for `abbreviations="gnu"` tables by getopt_long's
unique-prefix rule. Anything not in the table ends the parse with a `problem`, and the
caller asks the operator: the table says what is safe, never what is dangerous.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Arity = Literal["flag", "value", "optional"]
Abbreviations = Literal["gnu", "exact"]
# A value check returns None when the value is fine, else why it is not.
ValueCheck = Callable[[str], "str | None"]

_GROUP = re.compile(r"^(?P<names>[^=\[]+)(?:(?P<opt>\[=(?P<ometa>[A-Z_]+)\])|=(?P<meta>[A-Z_]+))?$")


@dataclass(frozen=True)
class OptionSpec:
    """One option with all its names, its arity and what its value means."""

    names: tuple[str, ...]
    arity: Arity = "flag"
    metavar: str = ""
    check: ValueCheck | None = None

    @property
    def canonical(self) -> str:
        longs = [n for n in self.names if n.startswith("--")]
        return longs[0] if longs else self.names[0]

    @property
    def reads_file(self) -> bool:
        return self.metavar == "FILE"


@dataclass(frozen=True)
class OptionTable:
    """The allowed options of one program (or of one subcommand)."""

    specs: tuple[OptionSpec, ...]
    abbreviations: Abbreviations = "exact"
    numeric: bool = False  # `-5`, `-20` (head, tail, git log, nice) are allowed
    long: Mapping[str, OptionSpec] = field(default_factory=dict)
    short: Mapping[str, OptionSpec] = field(default_factory=dict)
    # The program's other long options (not allowed), so that abbreviations resolve as
    # getopt_long resolves them: `grep --file` is --file, not --files-with-matches.
    others: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        text: str,
        *,
        abbreviations: Abbreviations = "exact",
        numeric: bool = False,
        checks: Mapping[str, ValueCheck] | None = None,
        others: str = "",
    ) -> OptionTable:
        """Build a table from its manual-page-like text; `checks` maps any name to a check."""
        checks = dict(checks or {})
        specs = []
        for word in text.split():
            match = _GROUP.match(word)
            if not match:
                raise ValueError(f"bad option group {word!r}")
            names = tuple(match.group("names").split("/"))
            for name in names:
                if not re.fullmatch(r"-[^-]|--[A-Za-z0-9][A-Za-z0-9._-]*", name):
                    raise ValueError(f"bad option name {name!r} in {word!r}")
            arity: Arity = (
                "optional" if match.group("opt") else "value" if match.group("meta") else "flag"
            )
            metavar = match.group("ometa") or match.group("meta") or ""
            check = next((checks.pop(n) for n in names if n in checks), None)
            specs.append(OptionSpec(names, arity, metavar, check))
        if checks:
            raise ValueError(f"checks for options not in the table: {sorted(checks)}")
        long = {n: s for s in specs for n in s.names if n.startswith("--")}
        short = {n[1]: s for s in specs for n in s.names if not n.startswith("--")}
        other_names = frozenset(others.split()) - set(long)
        return cls(tuple(specs), abbreviations, numeric, long, short, other_names)

    def resolve_long(self, name: str) -> tuple[OptionSpec | None, str]:
        """The spec a long option name means, or None and why (unknown or ambiguous)."""
        if name in self.long:
            return self.long[name], ""
        if name in self.others:
            return None, f"{name} is not an allowed option"
        if self.abbreviations == "gnu":
            matches: dict[object, OptionSpec | str] = {
                id(s): s for n, s in self.long.items() if n.startswith(name)
            }
            matches.update({n: n for n in self.others if n.startswith(name)})
            if len(matches) > 1:
                return None, f"{name} is an ambiguous abbreviation"
            if len(matches) == 1:
                (match,) = matches.values()
                if isinstance(match, str):
                    return None, f"{name} means {match}, which is not an allowed option"
                return match, ""
        return None, f"{name} is not an allowed option"


@dataclass
class ParsedOptions:
    """What parse_options understood; `problem` is set at the first word it did not."""

    options: list[tuple[OptionSpec, str | None]] = field(default_factory=list)
    operands: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)  # numeric options such as `-5`
    problem: str | None = None

    def has(self, *names: str) -> bool:
        return any(set(names) & set(spec.names) for spec, _ in self.options)

    def values(self, *names: str) -> list[str]:
        return [v for spec, v in self.options if v is not None and set(names) & set(spec.names)]


def parse_options(
    args: Sequence[str], table: OptionTable, *, stop_at_operand: bool = False
) -> ParsedOptions:
    """Read args as getopt_long would with this table; stop at the first word not allowed."""
    parsed = ParsedOptions()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            parsed.operands.extend(args[i + 1 :])
            return parsed
        if arg.startswith("--"):
            i = _long(args, i, table, parsed)
        elif arg.startswith("-") and len(arg) > 1:
            if table.numeric and arg[1:].isdigit():
                parsed.numbers.append(arg)
                i += 1
            else:
                i = _cluster(args, i, table, parsed)
        else:
            if stop_at_operand:
                parsed.operands.extend(args[i:])
                return parsed
            parsed.operands.append(arg)
            i += 1
        if parsed.problem:
            return parsed
    return parsed


def _long(args: Sequence[str], i: int, table: OptionTable, parsed: ParsedOptions) -> int:
    name, eq, value = args[i].partition("=")
    spec, why = table.resolve_long(name)
    if spec is None:
        parsed.problem = why
        return i
    if spec.arity == "flag":
        if eq:
            parsed.problem = f"{name} takes no value"
            return i
        return _record(parsed, spec, None, i + 1)
    if spec.arity == "optional":
        return _record(parsed, spec, value if eq else None, i + 1)
    if eq:
        return _record(parsed, spec, value, i + 1)
    if i + 1 >= len(args):
        parsed.problem = f"{name} needs a value"
        return i
    return _record(parsed, spec, args[i + 1], i + 2)


def _cluster(args: Sequence[str], i: int, table: OptionTable, parsed: ParsedOptions) -> int:
    arg = args[i]
    for j in range(1, len(arg)):
        spec = table.short.get(arg[j])
        if spec is None:
            parsed.problem = f"-{arg[j]} is not an allowed option" + (
                f" (in {arg})" if len(arg) > 2 else ""
            )
            return i
        attached = arg[j + 1 :]
        if spec.arity == "flag":
            parsed.options.append((spec, None))
            continue
        if spec.arity == "optional":
            return _record(parsed, spec, attached or None, i + 1)
        if attached:
            return _record(parsed, spec, attached, i + 1)
        if i + 1 >= len(args):
            parsed.problem = f"-{arg[j]} needs a value"
            return i
        return _record(parsed, spec, args[i + 1], i + 2)
    return i + 1


def _record(parsed: ParsedOptions, spec: OptionSpec, value: str | None, next_i: int) -> int:
    if value is not None and spec.check is not None:
        why = spec.check(value)
        if why:
            parsed.problem = f"{spec.canonical} {value!r}: {why}"
            return next_i
    parsed.options.append((spec, value))
    return next_i


# --- value checks shared by the tables ---------------------------------------------------------


def one_of(*allowed: str, case: bool = True) -> ValueCheck:
    """The value must be one of `allowed` (case-insensitive when case=False)."""
    fold = (lambda v: v) if case else str.lower
    wanted = {fold(a) for a in allowed}

    def check(value: str) -> str | None:
        return None if fold(value) in wanted else f"only {', '.join(allowed)} run without asking"

    return check


def matching(pattern: str, what: str) -> ValueCheck:
    """The whole value must match the regular expression `pattern`."""
    compiled = re.compile(pattern)

    def check(value: str) -> str | None:
        return None if compiled.fullmatch(value) else f"not {what}"

    return check


NUMBER = matching(r"[+-]?[0-9]+(\.[0-9]+)?[A-Za-z]{0,3}", "a number")


@dataclass(frozen=True)
class WordTable:
    """Options that are whole words with one dash (find's primaries, xxd, ip): no clusters,
    no attached values, no abbreviations. `valued` maps a word to the check of its value
    (the next word), None meaning any value; `files` names the words whose value is read."""

    flags: frozenset[str]
    valued: Mapping[str, ValueCheck | None]
    files: frozenset[str] = frozenset()

    @classmethod
    def of(cls, flags: str, valued: str = "", files: str = "", **checks: ValueCheck) -> WordTable:
        names = {w: None for w in valued.split()}
        for name, check in checks.items():
            names["-" + name.replace("_", "-")] = check
        return cls(frozenset(flags.split()), names, frozenset(files.split()))


def parse_words(args: Sequence[str], table: WordTable) -> ParsedOptions:
    """Read args word by word against a WordTable; operands are every non-option word."""
    parsed = ParsedOptions()
    i = 0
    while i < len(args):
        word = args[i]
        if word in table.flags:
            parsed.options.append((OptionSpec((word,)), None))
        elif word in table.valued:
            if i + 1 >= len(args):
                parsed.problem = f"{word} needs a value"
                return parsed
            value = args[i + 1]
            check = table.valued[word]
            if check is not None and (why := check(value)):
                parsed.problem = f"{word} {value!r}: {why}"
                return parsed
            metavar = "FILE" if word in table.files else "VALUE"
            parsed.options.append((OptionSpec((word,), "value", metavar), value))
            i += 1
        elif word.startswith("-") and word != "-":
            parsed.problem = f"{word} is not an allowed option"
            return parsed
        else:
            parsed.operands.append(word)
        i += 1
    return parsed
