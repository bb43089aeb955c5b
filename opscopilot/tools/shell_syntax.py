"""Find shell syntax in a command string the way /bin/sh would read it, without running a shell.

A command with any of it (pipes, lists, redirections, substitutions, expansions, globs,
subshells, comments, background `&`, newlines) means something different to a shell than
to an argv split; opscopilot runs such a command through `/bin/sh -c` only after the
operator approved that exact string. The scanner also cuts the string into the simple
commands a shell would run, so each one can be classified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_OPERATORS = ("&&", "||", ";;", "|&", "|", ";", "&", "\n")
_NAME_START = re.compile(r"[A-Za-z_0-9{@*#?$!\-]")


@dataclass
class ShellScan:
    """What a shell would see in a command string."""

    features: list[str] = field(default_factory=list)  # e.g. "pipe |", "command substitution $(…)"
    segments: list[str] = field(default_factory=list)  # the simple commands between operators
    substitutions: list[str] = field(default_factory=list)  # bodies of $(…) and `…`
    writes_file: bool = False  # an output redirection to something other than /dev/null
    balanced: bool = True  # quotes and substitutions are closed

    @property
    def needs_shell(self) -> bool:
        return bool(self.features)

    def note(self, feature: str) -> None:
        if feature not in self.features:
            self.features.append(feature)


def _matching_paren(text: str, start: int) -> int:
    """Index of the `)` closing the `(` at `start` (quote-aware), or -1."""
    depth, i, quote = 0, start, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch == "\\":
            i += 2
            continue
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _closing_backtick(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "`":
            return i
        i += 1
    return -1


def _redirect_target(text: str, i: int) -> str:
    """The word after a `>` at index i (skipping `>`, `|`, `&` and blanks)."""
    j = i
    while j < len(text) and text[j] in ">|&":
        j += 1
    while j < len(text) and text[j] in " \t":
        j += 1
    k = j
    while k < len(text) and text[k] not in " \t\n;|&<>()":
        k += 1
    return text[j:k].strip("'\"")


def _brace_expansion_at(text: str, i: int) -> bool:
    end = text.find("}", i)
    if end < 0:
        return False
    body = text[i + 1 : end]
    return ("," in body or ".." in body) and not any(c in body for c in " \t'\"")


def scan_shell(command: str) -> ShellScan:
    """Scan `command` as sh would; pure and fast (it runs on every proposed call)."""
    scan = ShellScan()
    segment: list[str] = []
    quote = ""
    word_start = True
    i = 0
    n = len(command)

    def cut() -> None:
        text = "".join(segment).strip()
        if text:
            scan.segments.append(text)
        segment.clear()

    while i < n:
        ch = command[i]
        if quote == "'":
            segment.append(ch)
            if ch == "'":
                quote = ""
            i += 1
            continue
        if ch == "\\":
            if quote == "" and i + 1 < n and command[i + 1] == "\n":
                scan.note("line continuation")
            segment.append(command[i : i + 2])
            i += 2
            word_start = False
            continue
        if ch == "$" and i + 1 < n:
            nxt = command[i + 1]
            if nxt == "(":
                end = _matching_paren(command, i + 1)
                if end < 0:
                    scan.balanced = False
                    end = n - 1
                body = command[i + 2 : end]
                if body.startswith("(") and body.endswith(")"):
                    scan.note("arithmetic expansion $((…))")
                else:
                    scan.note("command substitution $(…)")
                    scan.substitutions.append(body)
                segment.append(command[i : end + 1])
                i = end + 1
                word_start = False
                continue
            if _NAME_START.match(nxt) or nxt == "{":
                scan.note("variable expansion $")
        if ch == "`":
            end = _closing_backtick(command, i)
            if end < 0:
                scan.balanced = False
                end = n - 1
            scan.note("command substitution `…`")
            scan.substitutions.append(command[i + 1 : end])
            segment.append(command[i : end + 1])
            i = end + 1
            word_start = False
            continue
        if quote == '"':
            segment.append(ch)
            if ch == '"':
                quote = ""
            i += 1
            continue
        # Outside any quote.
        if ch in "'\"":
            quote = ch
            segment.append(ch)
            word_start = False
            i += 1
            continue
        operator = next((op for op in _OPERATORS if command.startswith(op, i)), None)
        if operator is not None:
            scan.note({"\n": "newline", "&": "background &"}.get(operator, f"operator {operator}"))
            cut()
            i += len(operator)
            word_start = True
            continue
        if ch in "<>":
            if ch == ">":
                target = _redirect_target(command, i)
                if target not in ("/dev/null", "/dev/stdout", "/dev/stderr", "") and not (
                    target.isdigit() or target == "-"
                ):
                    scan.writes_file = True
                scan.note("redirection >")
            else:
                scan.note("redirection <")
            segment.append(ch)
            i += 1
            word_start = False
            continue
        if ch in "()":
            scan.note("subshell ( )")
        elif ch in "*?[":
            scan.note("glob " + ch)
        elif ch == "{" and _brace_expansion_at(command, i):
            scan.note("brace expansion {…}")
        elif ch == "~" and word_start:
            scan.note("tilde expansion ~")
        elif ch == "#" and word_start:
            scan.note("comment #")
        word_start = ch in " \t"
        segment.append(ch)
        i += 1
    if quote:
        scan.balanced = False
    cut()
    return scan
