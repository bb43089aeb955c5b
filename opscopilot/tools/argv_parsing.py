"""Getopt-style argv parsing shared by the command classifier (short clusters, --long=value, --)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class ParsedArgs:
    options: list[tuple[str, str | None]] = field(default_factory=list)
    positionals: list[str] = field(default_factory=list)
    rest: list[str] = field(default_factory=list)  # from the first positional on (stop mode)

    def has(self, *names: str) -> bool:
        return any(name in names for name, _ in self.options)

    def value(self, *names: str) -> str | None:
        for name, value in self.options:
            if name in names:
                return value
        return None

    def long_prefixed(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name, _ in self.options)


def parse_args(
    args: Sequence[str],
    with_value: frozenset[str] | set[str] = frozenset(),
    *,
    stop_at_positional: bool = False,
    optional_value: frozenset[str] | set[str] = frozenset(),
) -> ParsedArgs:
    """Split args into options (name, value) and positionals the way getopt_long would.

    `with_value` names options that take the next word as their value ("-o", "--output");
    `optional_value` names short options whose value may only be attached ("-i" in xargs).
    With `stop_at_positional`, parsing ends at the first positional (wrappers: sudo, nice…)
    and everything from there on is `rest`.
    """
    parsed = ParsedArgs()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            parsed.positionals.extend(args[i + 1 :])
            if stop_at_positional:
                parsed.rest = list(args[i + 1 :])
            return parsed
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg.partition("=")
            if eq:
                parsed.options.append((name, value))
            elif name in with_value and i + 1 < len(args):
                parsed.options.append((name, args[i + 1]))
                i += 1
            else:
                parsed.options.append((name, None))
        elif arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit():
            j = 1
            while j < len(arg):
                name = "-" + arg[j]
                if name in with_value:
                    attached = arg[j + 1 :]
                    if attached:
                        parsed.options.append((name, attached))
                    elif i + 1 < len(args):
                        parsed.options.append((name, args[i + 1]))
                        i += 1
                    else:
                        parsed.options.append((name, None))
                    break
                if name in optional_value:
                    parsed.options.append((name, arg[j + 1 :] or None))
                    break
                parsed.options.append((name, None))
                j += 1
        elif arg.startswith("-") and len(arg) > 1:
            parsed.options.append((arg, None))  # a numeric option such as `-9` or `-20`
        else:
            if stop_at_positional:
                parsed.positionals.extend(args[i:])
                parsed.rest = list(args[i:])
                return parsed
            parsed.positionals.append(arg)
        i += 1
    return parsed
