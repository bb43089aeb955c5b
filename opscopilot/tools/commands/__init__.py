"""The tables behind command classification.

`ALLOWED` is the allow-list: per read-only program, the options and operands it may take
without a person (`allowed_*.py`). A call runs without asking only when its program's entry
understands and allows every word. Everything else asks; `GRADERS` and
`DESTRUCTIVE_PROGRAMS` only tell write from destructive for those calls (and find the
command inside `kubectl exec`, `docker exec`, `find -exec`), so a gap in them can never
let a call run.
"""

from __future__ import annotations

from collections.abc import Callable

from opscopilot.tools.commands import (
    allowed_containers,
    allowed_files,
    allowed_git,
    allowed_network,
    allowed_packages,
    allowed_services,
    allowed_system,
    network,
    services,
    system,
)
from opscopilot.tools.commands.allowed import Allowed
from opscopilot.tools.commands.judged import Judged, destructive, read, write

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "csh", "tcsh"})

DESTRUCTIVE_PROGRAMS = frozenset(
    {
        "rm",
        "rmdir",
        "unlink",
        "dd",
        "shred",
        "srm",
        "wipe",
        "wipefs",
        "truncate",
        "mke2fs",
        "mkswap",
        "fdisk",
        "sfdisk",
        "cfdisk",
        "parted",
        "sgdisk",
        "gdisk",
        "shutdown",
        "reboot",
        "poweroff",
        "halt",
        "userdel",
        "groupdel",
        "deluser",
        "delgroup",
        "lvremove",
        "vgremove",
        "pvremove",
        "blkdiscard",
        "kexec",
        "swapoff",
    }
)


Judge = Callable[[list[str], "str | None"], Allowed]


def _entries() -> dict[str, Judge]:
    entries: dict[str, Judge] = {}
    for module in (
        allowed_files,
        allowed_system,
        allowed_network,
        allowed_services,
        allowed_containers,
        allowed_git,
        allowed_packages,
    ):
        for program in module.PROGRAMS:
            assert program.name not in entries, f"two allow-list entries for {program.name}"
            entries[program.name] = program.judge
    entries.update(
        find=allowed_files.find,
        tar=allowed_files.tar,
        xxd=allowed_files.xxd,
        ps=allowed_system.ps,
        ip=allowed_network.ip,
        nslookup=allowed_network.nslookup,
    )
    return entries


ALLOWED: dict[str, Judge] = _entries()
"""Program name -> its allow-list judge `(args, cwd) -> Allowed`."""

# Grading only: how bad is a call that is not allowed (write, or destructive). A grader's
# "read" means no more than "not destructive": it never lets a call run.
GRADERS: dict[str, Callable[[list[str]], Judged]] = {
    "systemctl": services.systemctl,
    "service": services.service,
    "journalctl": services.journalctl,
    "timedatectl": services.ctl(
        "timedatectl", {"status", "show", "list-timezones", "timesync-status", "show-timesync"}
    ),
    "hostnamectl": services.ctl("hostnamectl", {"status", "hostname"}),
    "loginctl": services.ctl(
        "loginctl",
        {
            "list-sessions",
            "list-users",
            "list-seats",
            "show-session",
            "show-user",
            "show-seat",
            "session-status",
            "user-status",
            "seat-status",
        },
        frozenset(
            {"terminate-session", "terminate-user", "terminate-seat", "kill-session", "kill-user"}
        ),
    ),
    "resolvectl": services.ctl("resolvectl", {"status", "query", "statistics", "dns", "domain"}),
    "networkctl": services.ctl("networkctl", {"list", "status", "lldp", "label"}),
    "kubectl": services.kubectl,
    "docker": services.docker,
    "podman": services.docker,
    "git": services.git,
    "curl": network.curl,
    "wget": network.wget,
    "ping": network.ping,
    "ping6": network.ping,
    "ss": network.ss,
    "netstat": lambda args: read("netstat only reads"),
    "ip": network.ip,
    "iptables": network.iptables,
    "ip6tables": network.iptables,
    "nft": network.nft,
    "kill": system.kill,
    "pkill": lambda args: (
        system.kill(args)
        if system.kill(args).risk == "destructive"
        else write("pkill signals processes")
    ),
    "killall": lambda args: (
        system.kill(args)
        if system.kill(args).risk == "destructive"
        else write("killall signals processes")
    ),
    "find": system.make_find(),
    "dmesg": system.dmesg,
    "top": system.top,
    "hostname": system.hostname,
    "date": system.date,
    "mount": system.mount,
    "sysctl": system.sysctl,
    "getent": system.getent,
    "sort": system.sort,
    "uniq": system.uniq,
    "sed": system.sed,
    "crontab": system.crontab,
    "chmod": system.chmod_like("chmod"),
    "chown": system.chmod_like("chown"),
    "chgrp": system.chmod_like("chgrp"),
    "setfacl": system.chmod_like("setfacl"),
    "apt": system.package_manager(
        "apt",
        {"list", "show", "search", "policy", "depends", "rdepends", "changelog"},
        {"remove", "purge", "autoremove"},
    ),
    "apt-get": system.package_manager(
        "apt-get", {"check", "changelog"}, {"remove", "purge", "autoremove"}
    ),
    "apt-cache": lambda args: read("apt-cache only reads"),
    "yum": system.package_manager(
        "yum",
        {"list", "info", "search", "repolist", "history", "check-update"},
        {"remove", "erase", "autoremove"},
    ),
    "dnf": system.package_manager(
        "dnf",
        {"list", "info", "search", "repolist", "history", "check-update", "repoquery"},
        {"remove", "erase", "autoremove"},
    ),
    "pip": system.package_manager(
        "pip", {"list", "show", "freeze", "check", "--version"}, {"uninstall"}
    ),
    "dpkg": system.dpkg,
    "rpm": system.rpm,
    "tar": system.tar,
    "ifconfig": system.ifconfig,
    "ufw": lambda args: (
        read("ufw status only reads")
        if args[:1] == ["status"]
        else destructive("ufw disable/reset removes the firewall")
        if args[:1] in (["disable"], ["reset"], ["delete"])
        else write("ufw changes firewall rules")
    ),
    "rsync": lambda args: (
        destructive("rsync --delete removes files")
        if any(a.startswith("--delete") for a in args)
        else write("rsync copies files")
    ),
    "zfs": lambda args: (
        destructive("zfs destroy removes datasets")
        if "destroy" in args
        else read("zfs list/get only reads")
        if args[:1] in (["list"], ["get"])
        else write("zfs changes datasets")
    ),
    "python": system.interpreter("python"),
    "python3": system.interpreter("python3"),
    "perl": system.interpreter("perl"),
    "ruby": system.interpreter("ruby"),
    "node": system.interpreter("node"),
    "awk": system.interpreter("awk"),
    "gawk": system.interpreter("gawk"),
    "init": lambda args: (
        destructive("init 0/6 halts or reboots")
        if args[:1] in (["0"], ["6"], ["1"], ["s"], ["S"])
        else write("init changes the run level")
    ),
    "telinit": lambda args: destructive("telinit changes the run level"),
}
