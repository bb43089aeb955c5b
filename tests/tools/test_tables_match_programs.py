"""Every allow-list entry parses options as the real program does (where it is installed here).

For GNU programs (getopt_long) the program's own `--help` lists its long options and their
arity (`--lines=NUM` needs a value, `--color[=WHEN]` takes one only attached). Each allowed
long option must exist with the same arity, and no real option may be a strict prefix of an
allowed one unless it is allowed too: otherwise typing that real option exactly would be
read by the table as an abbreviation of the allowed one. Go programs (kubectl, docker) are
checked against their per-verb `--help`. A few calls then run for real to show that an
abbreviation the table accepts means what the table thinks it means.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

import pytest

from opscopilot.tools.commands import (
    allowed_containers,
    allowed_files,
    allowed_network,
    allowed_packages,
    allowed_services,
    allowed_system,
)
from opscopilot.tools.commands.allowed import Program
from opscopilot.tools.option_tables import OptionTable

_LONG = re.compile(r"(?<![\w-])(--[A-Za-z0-9][A-Za-z0-9._-]*)")


def _gnu_programs() -> list[Program]:
    programs = []
    for module in (allowed_files, allowed_system, allowed_network, allowed_services):
        for program in module.PROGRAMS:
            if program.abbreviations == "gnu" and shutil.which(program.name):
                programs.append(program)
    return programs


@functools.cache
def _help_text(argv: tuple[str, ...]) -> str:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
    )
    return done.stdout + done.stderr


def _help(argv: list[str]) -> str:
    return _help_text(tuple(argv))


def real_long_options(text: str) -> dict[str, str]:
    """Long option -> "flag", "value" or "optional", as a --help text writes them
    (`--lines=NUM`, `--color[=WHEN]`, `--format <fmt>`, `--since TIME`)."""
    found: dict[str, str] = {}
    for match in _LONG.finditer(text):
        name = match.group(1).rstrip(".,")
        after = text[match.end(1) : match.end(1) + 40]
        if after.startswith("[="):
            kind = "optional"
        elif after.startswith("=") or re.match(r" ?<[^>]+>| [A-Z][A-Z0-9_|-]*(?![a-z])\b", after):
            kind = "value"
        else:
            kind = "flag"
        if name not in found or found[name] == "flag":
            found[name] = kind
    return found


HELP_ARGV = {"curl": ["curl", "--help", "all"], "ss": ["ss", "--help"], "wget": ["wget", "--help"]}
# Options the installed version's --help does not list, checked by hand instead.
UNLISTED = {"systemctl": {"--no-legend"}}  # deprecated for --legend=no, still accepted
# Where --help does not show an option's value: `wget --max-redirect=NUMBER`.
ARITY = {("wget", "--max-redirect"): "value"}


@pytest.mark.parametrize("program", _gnu_programs(), ids=lambda p: p.name)
def test_allowed_long_options_exist_with_the_same_arity(program: Program) -> None:
    text = _help(HELP_ARGV.get(program.name, [program.name, "--help"]))
    real = real_long_options(text)
    real.update({name: kind for (prog, name), kind in ARITY.items() if prog == program.name})
    if len(real) < 3:
        pytest.skip(f"{program.name} --help lists no long options here")
    table = program.table()
    for name, spec in table.long.items():
        if name in UNLISTED.get(program.name, set()) or name in ("--help", "--version"):
            continue
        assert name in real, f"{program.name}: {name} is not an option of the installed program"
        if real[name] != "flag" and spec.arity != "flag":
            continue  # --help texts do not always say whether a value is optional
        assert real[name] == spec.arity or (real[name], spec.arity) in {("value", "optional")}, (
            f"{program.name} {name}: the program takes {real[name]}, the table says {spec.arity}"
        )


@pytest.mark.parametrize("program", _gnu_programs(), ids=lambda p: p.name)
def test_no_real_option_is_read_as_an_abbreviation_of_an_allowed_one(program: Program) -> None:
    text = _help(HELP_ARGV.get(program.name, [program.name, "--help"]))
    real = set(real_long_options(text))
    table: OptionTable = program.table()
    misread = sorted(
        f"{option} (read as {allowed})"
        for allowed in table.long
        for option in real
        if allowed != option
        and allowed.startswith(option)
        and option not in table.long
        and option not in table.others
    )
    assert not misread, f"{program.name}: real options the table would misread: {misread}"


KUBECTL_VERBS = ["get", "describe", "logs", "events", "explain", "version", "api-resources"]


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
@pytest.mark.parametrize("verb", KUBECTL_VERBS)
def test_kubectl_flags_exist(verb: str) -> None:
    real = set(real_long_options(_help(["kubectl", verb, "--help"])))
    real |= set(real_long_options(_help(["kubectl", "options"])))
    entry = allowed_containers.KUBECTL.verbs[verb]  # type: ignore[index]
    for name in entry.table().long:
        assert name in real, f"kubectl {verb}: {name} is not a flag of the installed kubectl"


DOCKER_VERBS = ["ps", "images", "logs", "inspect", "stats", "version", "info", "history"]


@pytest.mark.skipif(not shutil.which("docker"), reason="docker is not installed")
@pytest.mark.parametrize("verb", DOCKER_VERBS)
def test_docker_flags_exist(verb: str) -> None:
    real = set(real_long_options(_help(["docker", verb, "--help"])))
    entry = allowed_containers.DOCKER.verbs[verb]  # type: ignore[index]
    for name in entry.table().long:
        assert name in real, f"docker {verb}: {name} is not a flag of the installed docker"


@pytest.mark.parametrize(
    ("abbreviated", "written_out"),
    [
        (["df", "--human", "/"], ["df", "--human-readable", "/"]),
        (["head", "--lin=1", "/etc/hostname"], ["head", "--lines=1", "/etc/hostname"]),
        (["wc", "--li", "/etc/hostname"], ["wc", "--lines", "/etc/hostname"]),
        (["ls", "--almost", "/"], ["ls", "--almost-all", "/"]),
        (["uname", "--kernel-n"], ["uname", "--kernel-name"]),
    ],
)
def test_an_accepted_abbreviation_means_what_the_table_thinks(
    abbreviated: list[str], written_out: list[str]
) -> None:
    from opscopilot.tools import classify

    assert classify("run_command", {"command": " ".join(abbreviated)}).risk == "read"
    run = [
        subprocess.run(a, capture_output=True, text=True, timeout=20)
        for a in (abbreviated, written_out)
    ]
    assert run[0].returncode == run[1].returncode == 0
    assert run[0].stdout == run[1].stdout


def test_every_table_builds() -> None:
    """Tables are built lazily: build each one (every verb too) so a typo fails here."""

    def walk(program: Program) -> None:
        program.table()
        for verb in (program.verbs or {}).values():
            walk(verb)

    for module in (
        allowed_containers,
        allowed_files,
        allowed_network,
        allowed_packages,
        allowed_services,
        allowed_system,
    ):
        for program in module.PROGRAMS:
            walk(program)


def _wrappers() -> list[str]:
    from opscopilot.tools.commands.wrappers import _TABLES

    return [n for n, t in _TABLES.items() if t.abbreviations == "gnu" and shutil.which(n)]


@pytest.mark.parametrize("name", _wrappers())
def test_wrapper_tables_match_the_installed_wrappers(name: str) -> None:
    from opscopilot.tools.commands.wrappers import _TABLES

    table = _TABLES[name]
    real = real_long_options(_help([name, "--help"]))
    if len(real) < 2:
        pytest.skip(f"{name} --help lists no long options here")
    missing = [n for n in table.long if n not in real]
    misread = [
        f"{option} (read as {allowed})"
        for allowed in table.long
        for option in real
        if allowed != option and allowed.startswith(option) and option not in table.long
    ]
    assert not missing, f"{name}: not options of the installed program: {missing}"
    assert not misread, f"{name}: real options the table would misread: {misread}"
