"""Property tests of the allow-list: a call is read only when every word of it is allowed.

Calls are built from each program's own table (allowed options with values of the right
arity, short options clustered or not, values attached or not), then one word that is not
on the table is slipped in between two of them: an unknown long option (never a prefix of
an allowed one), an unknown short option, or a cluster hiding an unknown letter. Whatever
the mix, the call must not be read. Without the stranger, simple programs stay read, so
the generator really builds calls the policy accepts.
"""

from __future__ import annotations

import shlex
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from opscopilot.tools import classify
from opscopilot.tools.commands import (
    allowed_files,
    allowed_network,
    allowed_services,
    allowed_system,
)
from opscopilot.tools.commands.allowed import Program
from opscopilot.tools.option_tables import OptionSpec, OptionTable


def _entries(*modules: object) -> dict[str, Program]:
    return {p.name: p for m in modules for p in m.PROGRAMS}  # type: ignore[attr-defined]


ENTRIES = _entries(allowed_files, allowed_system, allowed_network, allowed_services)
# Programs with no value checks and no operand rules: any allowed mix is read.
SIMPLE = ["ls", "df", "du", "head", "wc", "cat", "stat", "sort", "cut", "uname", "free", "nl"]
# Programs whose calls need something extra to be read; the stranger must still make them ask.
OTHERS = ["grep", "tail", "ss", "netstat", "journalctl", "lsblk", "dmesg", "curl", "ping", "pgrep"]
OPERAND = {"curl": "http://localhost:8080/health", "ping": "127.0.0.1", "grep": "error"}
VALUE = st.sampled_from(["5", "10", "abc", "x_y", "1K", "pid"])


def option_unit(spec: OptionSpec) -> st.SearchStrategy[list[str]]:
    """One allowed option as the words a person would type for it."""
    names = st.sampled_from(spec.names)
    if spec.arity == "flag":
        return names.map(lambda n: [n])
    if spec.arity == "optional":
        return st.tuples(names, VALUE).map(
            lambda t: [f"{t[0]}={t[1]}" if t[0].startswith("--") else f"{t[0]}{t[1]}"]
        ) | names.map(lambda n: [n])
    return st.tuples(names, VALUE, st.booleans()).map(
        lambda t: (
            [f"{t[0]}={t[1]}" if t[0].startswith("--") else f"{t[0]}{t[1]}"]
            if t[2]
            else [t[0], t[1]]
        )
    )


def safe_specs(program: Program) -> list[OptionSpec]:
    table = program.table()
    # Values the generator cannot satisfy (checked ones) and file values are left out.
    return [s for s in table.specs if s.check is None and not s.reads_file]


def stranger(table: OptionTable) -> st.SearchStrategy[str]:
    """A word that is not on the table and cannot be read as anything on it."""
    # `-5` is a count for numeric programs (head, tail, grep): not a stranger there.
    letters = string.ascii_letters + ("" if table.numeric else string.digits)
    unknown_short = [c for c in letters if c not in table.short]
    flags = [c for c, s in table.short.items() if s.arity == "flag"]

    def not_prefix(word: str) -> bool:
        return not any(n.startswith(word) for n in table.long) and word not in table.others

    longs = (
        st.text(string.ascii_lowercase + "-", min_size=2, max_size=12)
        .map(lambda w: "--z" + w)
        .filter(not_prefix)
    )
    shorts = st.sampled_from(unknown_short).map(lambda c: "-" + c)
    options = [longs, shorts]
    if flags:
        clusters = st.tuples(
            st.lists(st.sampled_from(flags), max_size=3), st.sampled_from(unknown_short)
        ).map(lambda t: "-" + "".join(t[0]) + t[1])
        options.append(clusters)
    return st.one_of(options)


@st.composite
def call(draw: st.DrawFn, names: list[str], with_stranger: bool) -> tuple[str, str]:
    name = draw(st.sampled_from(names))
    program = ENTRIES[name]
    specs = safe_specs(program)
    units = draw(st.lists(st.sampled_from(specs).flatmap(option_unit), max_size=5)) if specs else []
    if with_stranger:
        position = draw(st.integers(0, len(units)))
        units.insert(position, [draw(stranger(program.table()))])
    words = [w for unit in units for w in unit]
    operand = OPERAND.get(name)
    if operand:
        words.append(operand)
    return name, shlex.join([name, *words])


@settings(max_examples=120, deadline=None)
@given(call(SIMPLE + OTHERS, with_stranger=True))
def test_a_word_not_on_the_list_makes_the_call_ask(generated: tuple[str, str]) -> None:
    _, command = generated
    classification = classify("run_command", {"command": command})
    assert classification.risk != "read", (command, classification.reason)


@settings(max_examples=60, deadline=None)
@given(call(SIMPLE, with_stranger=False))
def test_a_mix_of_allowed_options_is_read(generated: tuple[str, str]) -> None:
    _, command = generated
    classification = classify("run_command", {"command": command})
    assert classification.risk == "read", (command, classification.reason)


WRAPPERS = ["sudo -n", "nice -n 5", "timeout 5", "env LANG=C", "stdbuf -oL", "time -p", "nohup"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(WRAPPERS), call(SIMPLE + OTHERS, with_stranger=True))
def test_a_wrapper_does_not_hide_a_stranger(wrapper: str, generated: tuple[str, str]) -> None:
    _, command = generated
    assert classify("run_command", {"command": f"{wrapper} {command}"}).risk != "read"


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["env", "sudo", "nice", "timeout", "time", "xargs", "stdbuf", "ionice"]),
    st.text(string.ascii_lowercase, min_size=1, max_size=8),
)
def test_an_unknown_wrapper_option_never_runs_unasked(wrapper: str, word: str) -> None:
    # `env --zq ls rm-me`: whatever the unknown option swallows, the call asks.
    command = f"{wrapper} --zq{word} ls touch /tmp/x"
    assert classify("run_command", {"command": command}).risk != "read"


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(SIMPLE + OTHERS), st.data())
def test_an_abbreviation_is_read_only_when_it_names_one_allowed_option(
    name: str, data: st.DataObject
) -> None:
    program = ENTRIES[name]
    table = program.table()
    longs = [n for n, s in table.long.items() if s.arity == "flag"]
    if not longs:
        return
    option = data.draw(st.sampled_from(longs))
    cut = data.draw(st.integers(3, len(option)))
    prefix = option[:cut]
    operand = OPERAND.get(name)
    command = shlex.join([name, prefix, *([operand] if operand else [])])
    matches = {id(s) for n, s in table.long.items() if n.startswith(prefix)}
    unique = len(matches) == 1 and not any(o.startswith(prefix) for o in table.others)
    risk = classify("run_command", {"command": command}).risk
    means_one = prefix in table.long or (table.abbreviations == "gnu" and unique)
    if not means_one:
        assert risk != "read", command
    elif name in SIMPLE:
        assert risk == "read", command
