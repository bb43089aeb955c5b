"""Allow-list: systemd and service managers (systemctl, journalctl, the *ctl tools, service).

systemd's tools use getopt_long, so unique prefixes of long options count, and options may
follow the verb. Verbs are matched exactly, as systemd does. Left out on purpose (they ask):
`-H/--host` and `-M/--machine` (reach other hosts or containers), `--root`/`--image`,
`journalctl --file/-D` (read journal files anywhere), `-f/--follow` (never ends), verbs that
change state even when they look like reads (`hostnamectl hostname NAME`, `resolvectl dns
IFACE SERVER`), `systemctl show-environment` (may print secrets), `systemctl help` (runs man).
"""

from __future__ import annotations

from opscopilot.tools.commands.allowed import Program
from opscopilot.tools.option_tables import ParsedOptions

_SYSTEMCTL_OPTIONS = (
    "-a/--all -t/--type=TYPES --state=STATES -p/--property=NAME -P=NAME -l/--full "
    "--no-pager --no-legend --legend=BOOL --plain -q/--quiet --value -n/--lines=N "
    "-o/--output=FORMAT --failed -r/--recursive --reverse "
    "--with-dependencies --show-types --timestamp=FORMAT --user --system --global "
    "--no-ask-password --check-inhibitors=MODE -h/--help --version"
)


def _systemctl(*names: str) -> dict[str, Program]:
    return {name: Program(name) for name in names}


SYSTEMCTL = Program(
    "systemctl",
    _SYSTEMCTL_OPTIONS,
    abbreviations="gnu",
    options_after_verb=True,
    default_verb="list-units",
    verbs=_systemctl(
        "status",
        "show",
        "cat",
        "list-units",
        "list-unit-files",
        "list-timers",
        "list-sockets",
        "list-dependencies",
        "list-jobs",
        "list-automounts",
        "list-paths",
        "is-active",
        "is-enabled",
        "is-failed",
        "is-system-running",
        "get-default",
    ),
)

JOURNALCTL = Program(
    "journalctl",
    "-u/--unit=UNIT --user-unit=UNIT -t/--identifier=ID "
    "-p/--priority=RANGE --facility=LIST -g/--grep=PATTERN --case-sensitive[=BOOL] "
    "-S/--since=DATE -U/--until=DATE -c/--cursor=CURSOR --after-cursor=CURSOR "
    "--show-cursor -b/--boot[=ID] -k/--dmesg -n/--lines[=N] --no-tail -r/--reverse "
    "-o/--output=MODE --output-fields=LIST --utc -x/--catalog -a/--all "
    "--no-full -q/--quiet -m/--merge --no-hostname --no-pager --system --user "
    "-F/--field=FIELD -N/--fields --list-boots --disk-usage --header -h/--help --version",
    abbreviations="gnu",
    reason="journalctl only reads the journal",
)


def _ctl(name: str, options: str, default: str | None, **verbs: Program) -> Program:
    return Program(
        name,
        options,
        abbreviations="gnu",
        options_after_verb=True,
        default_verb=default,
        verbs={verb.replace("_", "-"): program for verb, program in verbs.items()},
    )


_CTL_OPTIONS = "-h/--help --version"
_CTL_PROPERTIES = " -a/--all -p/--property=NAME --value"

TIMEDATECTL = _ctl(
    "timedatectl",
    _CTL_OPTIONS + _CTL_PROPERTIES + " --no-pager --no-ask-password --monitor",
    "status",
    status=Program("status", operands="none"),
    show=Program("show", operands="none"),
    list_timezones=Program("list-timezones", operands="none"),
    timesync_status=Program("timesync-status", operands="none"),
    show_timesync=Program("show-timesync", operands="none"),
)
HOSTNAMECTL = _ctl(
    "hostnamectl",
    _CTL_OPTIONS + " --no-ask-password --static --transient --pretty -j --json=MODE",
    "status",
    status=Program("status", operands="none"),
    # `hostnamectl hostname NAME` sets the name: without an operand it only prints it.
    hostname=Program("hostname", operands="none"),
    chassis=Program("chassis", operands="none"),
    deployment=Program("deployment", operands="none"),
    location=Program("location", operands="none"),
    icon_name=Program("icon-name", operands="none"),
)
LOGINCTL = _ctl(
    "loginctl",
    _CTL_OPTIONS
    + _CTL_PROPERTIES
    + " -l/--full --no-pager --no-legend --no-ask-password -n/--lines=N -o/--output=MODE",
    "list-sessions",
    list_sessions=Program("list-sessions", operands="none"),
    list_users=Program("list-users", operands="none"),
    list_seats=Program("list-seats", operands="none"),
    show_session=Program("show-session"),
    show_user=Program("show-user"),
    show_seat=Program("show-seat"),
    session_status=Program("session-status"),
    user_status=Program("user-status"),
    seat_status=Program("seat-status"),
)


def _at_most_interface(operands: list[str], parsed: ParsedOptions) -> str | None:
    return "with servers or domains it changes the link's settings" if len(operands) > 1 else None


RESOLVECTL = _ctl(
    "resolvectl",
    _CTL_OPTIONS + _CTL_PROPERTIES + " -4 -6 -i/--interface=IFACE -t/--type=TYPE -c/--class=CLASS "
    "--legend=BOOL --cname=BOOL --search=BOOL --raw[=WHAT] --cache=BOOL --zone=BOOL "
    "--trust-anchor=BOOL --network=BOOL --validate=BOOL --synthesize=BOOL",
    "status",
    status=Program("status"),
    query=Program("query", network=True),
    statistics=Program("statistics", operands="none"),
    # `resolvectl dns IFACE SERVER…` and `domain IFACE DOMAIN…` set; with one word they print.
    dns=Program("dns", operand_check=_at_most_interface),
    domain=Program("domain", operand_check=_at_most_interface),
    default_route=Program("default-route", operand_check=_at_most_interface),
    llmnr=Program("llmnr", operand_check=_at_most_interface),
    mdns=Program("mdns", operand_check=_at_most_interface),
    dnssec=Program("dnssec", operand_check=_at_most_interface),
    dnsovertls=Program("dnsovertls", operand_check=_at_most_interface),
)
NETWORKCTL = _ctl(
    "networkctl",
    _CTL_OPTIONS + " -a/--all -l/--full --no-pager --no-legend -s/--stats -n/--lines=N --json=MODE",
    "list",
    list=Program("list"),
    status=Program("status"),
    lldp=Program("lldp"),
    label=Program("label", operands="none"),
)


def _service_operands(operands: list[str], parsed: ParsedOptions) -> str | None:
    if parsed.has("--status-all") and not operands:
        return None
    if len(operands) == 2 and operands[1] == "status":
        return None
    return "only `service NAME status` and `service --status-all` only read"


SERVICE = Program("service", "--status-all -h/--help --version", operand_check=_service_operands)

PROGRAMS = [
    SYSTEMCTL,
    JOURNALCTL,
    TIMEDATECTL,
    HOSTNAMECTL,
    LOGINCTL,
    RESOLVECTL,
    NETWORKCTL,
    SERVICE,
]
