"""Allow-list: package queries (dpkg, apt, apt-cache, rpm, dnf/yum, pip).

Left out on purpose (they ask): `-o`/`--option` and `-c`/`--config-file` of apt (any
setting, e.g. a cache file to write), `pip --log FILE`/`--cache-dir`/`--python`/`--proxy`/
`--cert`, pip's abbreviations (optparse would expand `--lo` to `--log`), `apt changelog`
(downloads and pages), `rpm --eval/--define/--macros`, and every verb that installs,
removes or refreshes.
"""

from __future__ import annotations

from opscopilot.tools.commands.allowed import Program

_DPKG_QUERIES = (
    "-l/--list -L/--listfiles -s/--status -S/--search -p/--print-avail --get-selections "
    "--print-architecture --print-foreign-architectures -W/--show --showformat=FORMAT "
    "-f=FORMAT --no-pager --help --version"
)
DPKG = Program(
    "dpkg",
    _DPKG_QUERIES,
    operand_check=lambda ops, parsed: (
        None if parsed.options else "dpkg without a query option installs or changes packages"
    ),
    reason="dpkg queries only read",
)
DPKG_QUERY = Program("dpkg-query", _DPKG_QUERIES, reason="dpkg-query only reads")

APT = Program(
    "apt",
    "-q/--quiet -h/--help -v/--version",
    options_after_verb=True,
    verbs={
        "list": Program("list", "--installed --upgradable --all-versions --manual-installed"),
        "show": Program("show", "-a/--all-versions", min_operands=1),
        "search": Program("search", "-n/--names-only --full", min_operands=1),
        "policy": Program("policy"),
        "depends": Program("depends", "--recurse --installed --important", min_operands=1),
        "rdepends": Program("rdepends", "--recurse --installed --important", min_operands=1),
    },
)
APT_CACHE = Program(
    "apt-cache",
    "-q/--quiet -h/--help -v/--version",
    options_after_verb=True,
    verbs={
        "policy": Program("policy"),
        "show": Program("show", "-a/--all-versions --no-all-versions", min_operands=1),
        "showpkg": Program("showpkg", min_operands=1),
        "showsrc": Program("showsrc", min_operands=1),
        "search": Program("search", "-n/--names-only -f/--full", min_operands=1),
        "depends": Program("depends", "--recurse --installed --important -i", min_operands=1),
        "rdepends": Program("rdepends", "--recurse --installed --important -i", min_operands=1),
        "madison": Program("madison", min_operands=1),
        "stats": Program("stats", operands="none"),
        "pkgnames": Program("pkgnames", max_operands=1),
    },
)
RPM = Program(
    "rpm",
    "-q/--query -a/--all -i/--info -l/--list -f/--file -c/--configfiles -d/--docfiles "
    "-R/--requires --provides --whatprovides --whatrequires --changelog --last -V/--verify "
    "--nodeps --nofiles --nodigest --nosignature --version",
    operand_check=lambda ops, parsed: (
        None if parsed.has("-q", "-V") else "rpm without -q/-V installs or changes packages"
    ),
    reason="rpm -q only reads",
)


def _dnf(name: str) -> Program:
    return Program(
        name,
        "-q/--quiet -C/--cacheonly -v/--verbose --noplugins -h/--help --version",
        options_after_verb=True,
        verbs={
            "list": Program(
                "list", "--installed --available --updates --upgrades --all --extras --recent"
            ),
            "info": Program("info", "--installed --available --all"),
            "search": Program("search", "--all", min_operands=1),
            "repolist": Program("repolist", "--all --enabled --disabled"),
            "history": Program(
                "history",
                verbs={"list": Program("list"), "info": Program("info")},
                default_verb="list",
            ),
            "check-update": Program("check-update"),
            "repoquery": Program(
                "repoquery",
                "--installed --requires --whatrequires --provides "
                "--whatprovides -l/--list -i/--info",
            ),
        },
    )


def _pip(name: str) -> Program:
    return Program(
        name,
        "-q/--quiet -v/--verbose --no-color --disable-pip-version-check --no-input "
        "--isolated -h/--help -V/--version",
        options_after_verb=True,
        default_verb=None,
        verbs={
            "list": Program(
                "list",
                "-l/--local --user -e/--editable --not-required "
                "--format=FORMAT --exclude-editable --include-editable --pre "
                "-o/--outdated -u/--uptodate",
            ),
            "show": Program("show", "-f/--files", min_operands=1),
            "freeze": Program("freeze", "-l/--local --user --all --exclude-editable"),
            "check": Program("check", operands="none"),
        },
    )


PROGRAMS = [
    DPKG,
    DPKG_QUERY,
    APT,
    APT_CACHE,
    RPM,
    _dnf("dnf"),
    _dnf("yum"),
    _pip("pip"),
    _pip("pip3"),
]
