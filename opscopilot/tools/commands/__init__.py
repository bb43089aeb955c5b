"""The tables behind command classification: which programs and subcommands only read.

Anything not listed here is "write" (needs approval in `ask` mode). A rule returns a
Judged: the risk, a one-line reason, and (for `kubectl exec`, `docker exec`, `find -exec`)
the inner argv, which is classified too and never lowers the risk.
"""

from __future__ import annotations

from collections.abc import Callable

from opscopilot.tools.commands import network, services, system
from opscopilot.tools.commands.judged import Judged, destructive, read, write

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "csh", "tcsh"})

READ_PROGRAMS = frozenset(
    {
        "df",
        "du",
        "free",
        "uptime",
        "ps",
        "ls",
        "cat",
        "head",
        "tail",
        "grep",
        "egrep",
        "fgrep",
        "zgrep",
        "rg",
        "wc",
        "stat",
        "file",
        "dig",
        "nslookup",
        "host",
        "whois",
        "id",
        "whoami",
        "lsof",
        "iostat",
        "vmstat",
        "mpstat",
        "pidstat",
        "sar",
        "lsblk",
        "findmnt",
        "lscpu",
        "lsmem",
        "lspci",
        "lsusb",
        "lsmod",
        "lsns",
        "nproc",
        "arch",
        "w",
        "who",
        "users",
        "last",
        "pwd",
        "echo",
        "printf",
        "true",
        "which",
        "whereis",
        "realpath",
        "readlink",
        "basename",
        "dirname",
        "cut",
        "tr",
        "column",
        "nl",
        "rev",
        "fold",
        "less",
        "more",
        "zcat",
        "bzcat",
        "xzcat",
        "zless",
        "md5sum",
        "sha1sum",
        "sha256sum",
        "sha512sum",
        "cksum",
        "tree",
        "pgrep",
        "pidof",
        "pstree",
        "nstat",
        "traceroute",
        "tracepath",
        "mtr",
        "strings",
        "xxd",
        "od",
        "hexdump",
        "diff",
        "cmp",
        "jq",
        "getconf",
        "locale",
        "sleep",
        "test",
        "seq",
        "expr",
        "tac",
        "sestatus",
        "uname",
        "blkid",
        "groups",
        "lslocks",
        "lsipc",
        "numactl",
        "nvidia-smi",
        "namei",
        "tty",
        "mountpoint",
        "ipcs",
    }
)

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


SUBCOMMAND_RULES: dict[str, Callable[[list[str]], Judged]] = {
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
