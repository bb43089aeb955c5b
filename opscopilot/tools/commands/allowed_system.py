"""Allow-list: programs that report on processes, memory, disks, users and the kernel.

Left out on purpose (they ask): `ps e`/`ps eww` (other processes' environments), `dmesg -F`
(reads any file), `dmesg -c/-C/-D/-E/-n` (change the kernel log), `date -s`/`date -f`,
`hostname NAME`/`-F`, `sysctl -w/-p`, `getent shadow`, `sar -o` (writes), `top` without
`-b`, `free -s` (never ends), `numactl` running a program, `nvidia-smi -f` (writes).
"""

from __future__ import annotations

import re

from opscopilot.tools.commands.allowed import Allowed, Program, allowed, refused
from opscopilot.tools.commands.allowed_files import gnu
from opscopilot.tools.option_tables import OptionTable, ParsedOptions, parse_options


def _date_operands(operands: list[str], parsed: ParsedOptions) -> str | None:
    # `date +FORMAT` prints; `date MMDDhhmm` sets the clock.
    bad = [w for w in operands if not w.startswith("+")]
    return f"date {bad[0]} would set the clock" if bad else None


def _sysctl_operands(operands: list[str], parsed: ParsedOptions) -> str | None:
    bad = [w for w in operands if "=" in w]
    return f"sysctl {bad[0]} writes a kernel parameter" if bad else None


def _getent_operands(operands: list[str], parsed: ParsedOptions) -> str | None:
    if operands and operands[0] in {"shadow", "gshadow"}:
        return f"getent {operands[0]} prints password hashes"
    return None


PROGRAMS = [
    Program(
        "free",
        "-b/--bytes -k/--kilo -m/--mega -g/--giga --tera --peta -h/--human --si --kibi --mebi "
        "--gibi --tebi --pebi -l/--lohi -t/--total -v/--committed -w/--wide --help "
        "-V/--version",
        operands="none",
        abbreviations="gnu",
    ),
    Program(
        "uptime",
        "-p/--pretty -s/--since -h/--help -V/--version",
        operands="none",
        abbreviations="gnu",
    ),
    Program(
        "lsblk",
        "-A/--noempty -a/--all -b/--bytes -D/--discard -d/--nodeps -E/--dedup=COLUMN "
        "-e/--exclude=LIST -f/--fs -I/--include=LIST -i/--ascii -J/--json -l/--list -M/--merge "
        "-m/--perms -n/--noheadings -o/--output=LIST -O/--output-all -P/--pairs -p/--paths "
        "-r/--raw -S/--scsi -s/--inverse -T/--tree[=COLUMN] -t/--topology "
        "-w/--width=N -x/--sort=COLUMN -y/--shell -z/--zoned -h/--help -V/--version",
        abbreviations="gnu",
    ),
    Program(
        "findmnt",
        "-A/--all -b/--bytes -C/--nocanonicalize -c/--canonicalize -D/--df -d/--direction=WORD "
        "-e/--evaluate -f/--first-only -i/--invert -J/--json -l/--list -k/--kernel -m/--mtab "
        "-s/--fstab -n/--noheadings -O/--options=LIST -o/--output=LIST --output-all -P/--pairs "
        "-R/--submounts -r/--raw -S/--source=SOURCE -T/--target=PATH -t/--types=LIST "
        "-U/--uniq -u/--notruncate -v/--nofsroot -x/--verify --real --pseudo --shadowed "
        "-y/--shell -h/--help -V/--version",
        abbreviations="gnu",
    ),
    Program(
        "lscpu",
        "-a/--all -b/--online -B/--bytes -c/--offline -C/--caches[=LIST] -e/--extended[=LIST] "
        "-J/--json -p/--parse[=LIST] -s/--sysroot=DIR -x/--hex -y/--physical --output-all "
        "-h/--help -V/--version",
        operands="none",
        abbreviations="gnu",
    ),
    Program(
        "lsmem",
        "-a/--all -b/--bytes -J/--json -n/--noheadings -o/--output=LIST "
        "--output-all -P/--pairs -r/--raw -S/--split=LIST --summary[=WHEN] -h/--help "
        "-V/--version",
        operands="none",
        abbreviations="gnu",
    ),
    Program(
        "lspci",
        "-m -t -v -k -x -b -D -P -n -q -Q -s=SLOT -d=ID -i=FILE --version",
        operands="none",
    ),
    Program(
        "lsusb",
        "-v/--verbose -s=BUS -d=ID -D=FILE -t/--tree -V/--version -h/--help",
        operands="none",
    ),
    Program("lsmod", "", operands="none"),
    Program(
        "lsns",
        "-J/--json -l/--list -n/--noheadings -o/--output=LIST --output-all "
        "-p/--task=PID -r/--raw -u/--notruncate -W/--nowrap -t/--type=TYPE -T/--tree[=REL] "
        "-h/--help -V/--version",
        abbreviations="gnu",
    ),
    gnu("nproc", "--all --ignore=N --help --version", operands="none"),
    gnu("arch", "--help --version", operands="none"),
    Program(
        "w",
        "-h/--no-header -u/--no-current -s/--short -f/--from -o/--old-style "
        "-i/--ip-addr --help -V/--version",
        abbreviations="gnu",
    ),
    gnu(
        "who",
        "-a/--all -b/--boot -d/--dead -H/--heading -l/--login --lookup -m -p/--process "
        "-q/--count -r/--runlevel -s/--short -t/--time -T/-w/--mesg -u/--users --writable "
        "--help --version",
        max_operands=0,
    ),
    gnu("users", "--help --version", operands="none"),
    Program(
        "last",
        "-a/--hostlast -d/--dns -F/--fulltimes -i/--ip -n/--limit=N -R/--nohostname "
        "-s/--since=TIME -t/--until=TIME -p/--present=TIME -w/--fullnames -x/--system "
        "--time-format=FORMAT -h/--help -V/--version",
        numeric=True,
        abbreviations="gnu",
    ),
    gnu(
        "id",
        "-a -Z/--context -g/--group -G/--groups -n/--name -r/--real -u/--user -z/--zero "
        "--help --version",
    ),
    gnu("whoami", "--help --version", operands="none"),
    gnu("groups", "--help --version"),
    gnu("tty", "-s/--silent/--quiet --help --version", operands="none"),
    Program(
        "hostname",
        "-a/--alias -A/--all-fqdns -d/--domain -f/--fqdn/--long -i/--ip-address "
        "-I/--all-ip-addresses -s/--short -y/--yp/--nis -h/--help -V/--version",
        operands="none",
        reason="hostname without a name only reads",
    ),
    gnu(
        "date",
        "-d/--date=STRING --debug -I/--iso-8601[=FMT] --resolution -R/--rfc-email "
        "--rfc-3339=FMT -r/--reference=FILE -u/--utc/--universal --help --version",
        operand_check=_date_operands,
    ),
    gnu(
        "uname",
        "-a/--all -s/--kernel-name -n/--nodename -r/--kernel-release -v/--kernel-version "
        "-m/--machine -p/--processor -i/--hardware-platform -o/--operating-system --help "
        "--version",
        operands="none",
    ),
    Program(
        "dmesg",
        "-d/--show-delta -e/--reltime -f/--facility=LIST -J/--json -k/--kernel "
        "-L/--color[=WHEN] --force-prefix -l/--level=LIST -P/--nopager -p/--force-prefix "
        "-r/--raw -S/--syslog -T/--ctime -t/--notime --time-format=FORMAT -u/--userspace "
        "-x/--decode --since=TIME --until=TIME -h/--help -V/--version",
        operands="none",
        abbreviations="gnu",
    ),
    Program(
        "sysctl",
        "-a/-A/-X/--all -b/--binary -e/--ignore -N/--names -n/--values -r/--pattern=REGEX "
        "-h/--help -V/--version",
        operand_check=_sysctl_operands,
    ),
    Program(
        "getent",
        "-s/--service=CONFIG -i/--no-idn -A/--no-addrconfig -?/--help -V/--version",
        min_operands=1,
        operand_check=_getent_operands,
        abbreviations="gnu",
    ),
    Program(
        "mount",
        "-l/--show-labels -t/--types=LIST -h/--help -V/--version",
        operands="none",
        reason="mount without a device lists mounts",
    ),
    Program(
        "lsof",
        "-a -b -C -h -l -n -N -O -P -R -t -U -V -w -x -X -i[=ADDR] -c=NAME "
        "-d=FDS -g[=PGIDS] -p=PIDS -s[=STATE] -u=USERS -F[=FIELDS] -T[=INFO] "
        "-E -v",
        operands="files",
        operand_check=lambda ops, parsed: (
            "lsof reads +D, +L … as options" if any(w.startswith("+") for w in ops) else None
        ),
    ),
    Program(
        "iostat",
        "-c -d -h -k -m -N -s -t -x -y -z -H -j=ID -g=NAME -p[=DEVS] "
        "--compact --dec=N --human --pretty -o=JSON -V",
    ),
    Program(
        "vmstat",
        "-a/--active -f/--forks -m/--slabs -n/--one-header -s/--stats "
        "-d/--disk -D/--disk-sum -p/--partition=DEV -S/--unit=UNIT -t/--timestamp "
        "-w/--wide -y/--no-first -h/--help -V/--version",
        abbreviations="gnu",
    ),
    Program("mpstat", "-A -n -T -u -H -I=KEYWORDS -N=NODES -P=CPUS -o=JSON --dec=N -V"),
    Program(
        "pidstat",
        "-d -H -h -I -l -R -r -s -t -U[=USER] -u -v -w -C=COMM -G=NAME "
        "-p=PIDS -T=WHAT --dec=N --human -V",
    ),
    Program(
        "sar",
        "-A -B -b -C -d -F -H -h -p -q -r -S -t -u -v -W -w -y -z -I=INT -n=KW "
        "-m=KW -P=CPUS -s=TIME -e=TIME -i=N -j=ID --dec=N --human --pretty -V",
    ),
    Program(
        "pgrep",
        "-a/--list-full -c/--count -d/--delimiter=DELIM -e/--exact -f/--full "
        "-g/--pgroup=IDS -G/--group=IDS -i/--ignore-case -l/--list-name -n/--newest "
        "-o/--oldest -O/--older=SECS -P/--parent=PIDS -s/--session=IDS -t/--terminal=TTYS "
        "-u/--euid=IDS -U/--uid=IDS -v/--inverse -w/--lightweight -x/--exact "
        "-r/--runstates=STATE --ns=PID --nslist=NS -h/--help -V/--version",
        abbreviations="gnu",
    ),
    Program("pidof", "-s -c -n -x -z -w -o=PIDS -S=SEP -q -h -V"),
    Program(
        "pstree",
        "-a/--arguments -A/--ascii -c/--compact-not -C/--color=TYPE -g/--show-pgids "
        "-G/--vt100 -h/--highlight-all -H/--highlight-pid=PID -l/--long -n/--numeric-sort "
        "-N/--ns-sort=TYPE -p/--show-pids -s/--show-parents -S/--ns-changes -t/--thread-names "
        "-T/--hide-threads -u/--uid-changes -U/--unicode -V/--version",
        abbreviations="gnu",
    ),
    Program("which", "-a -s"),
    Program("whereis", "-b -m -s -u -l -h -V"),
    Program("getconf", "-a -v=SPEC"),
    Program(
        "locale",
        "-a/--all-locales -m/--charmaps -c/--category-name -k/--keyword-name "
        "-v/--verbose --help -V/--version",
        abbreviations="gnu",
    ),
    Program("sestatus", "-v -b", operands="none"),
    Program(
        "blkid",
        "-c=FILE -d -g -h -k -l -L=LABEL -U=UUID -o=FORMAT -s=TAG -t=TOKEN -p "
        "-i -u=LIST -n=LIST -O=OFFSET -S=SIZE -V",
        checks={
            "-c": lambda v: (
                None if v == "/dev/null" else "only -c /dev/null (no cache file written)"
            )
        },
    ),
    Program(
        "lslocks",
        "-b/--bytes -J/--json -i/--noinaccessible -n/--noheadings "
        "-o/--output=LIST --output-all -p/--pid=PID -r/--raw -u/--notruncate -h/--help "
        "-V/--version",
        operands="none",
        abbreviations="gnu",
    ),
    Program(
        "lsipc",
        "-i/--id=ID -g/--global -q/--queues -m/--shmems -s/--semaphores "
        "-e/--export -J/--json -l/--list -n/--newline --noheadings --notruncate "
        "-o/--output=LIST -b/--bytes -c/--creator -P/--numeric-perms -r/--raw -t/--time "
        "-h/--help -V/--version",
        operands="none",
        abbreviations="gnu",
    ),
    Program(
        "numactl",
        "-H/--hardware -s/--show",
        operands="none",
        reason="numactl --hardware/--show only reads",
    ),
    Program(
        "nvidia-smi",
        "-L/--list-gpus -q/--query -x/--xml-format -d/--display=LIST "
        "-i/--id=ID --query-gpu=LIST --query-compute-apps=LIST --format=FORMAT "
        "-l/--loop=SECS -h/--help",
        operands="none",
    ),
    Program(
        "mountpoint",
        "-q/--quiet --nofollow -d/--fs-devno -x/--devno -h/--help -V/--version",
        abbreviations="gnu",
    ),
    Program(
        "ipcs",
        "-i/--id=ID -m/--shmems -q/--queues -s/--semaphores -a/--all -t/--time "
        "-p/--pid -c/--creator -l/--limits -u/--summary --human -b/--bytes -h/--help "
        "-V/--version",
        operands="none",
        abbreviations="gnu",
    ),
    Program(
        "crontab",
        "-l -u=USER",
        operands="none",
        reason="crontab -l only reads",
        operand_check=lambda ops, parsed: (
            None if parsed.has("-l") else "without -l it replaces or edits the crontab"
        ),
    ),
    Program(
        "kill",
        "-l/--list[=SIGNAL] -L/--table",
        operands="none",
        operand_check=lambda ops, parsed: None if parsed.has("-l", "-L") else "signals processes",
        reason="kill -l only lists signals",
    ),
    Program("ifconfig", "-a -s -v", max_operands=1, reason="ifconfig only shows interfaces"),
    Program(
        "top",
        "-b/--batch-mode -c/--cmdline-toggle -d/--delay=SECS -E/--scale-summary-mem=S "
        "-e/--scale-task-mem=S -H/--threads-show -i/--idle-toggle -n/--iterations=N "
        "-O/--list-fields -o/--sort-override=FIELD -p/--pid=PIDS -S/--accum-time-toggle "
        "-s/--secure-mode -U/--filter-any-user=USER -u/--filter-only-euser=USER "
        "-w/--width[=N] -1/--single-cpu-toggle -h/--help -V/--version",
        operands="none",
        operand_check=lambda ops, parsed: (
            None if parsed.has("-b") else "top without -b is interactive (use top -b -n 1)"
        ),
    ),
]


# --- ps: three option syntaxes in one argv (UNIX -ef, BSD aux, GNU --sort) --------------------

_PS_UNIX = OptionTable.of(
    "-A -a -d -e -f -F -H -j -l -L -m -M -N -T -w -y -Z -c -P -o=FORMAT -O=FORMAT -p=PIDS "
    "-q=PIDS -u=USERS -U=USERS -g=GROUPS -G=GROUPS -s=SIDS -t=TTYS -C=NAMES -n=FILE"
    " --sort=SPEC --pid=PIDS --ppid=PIDS --quick-pid=PIDS --user=USERS --User=USERS "
    "--group=GROUPS --Group=GROUPS --sid=SIDS --tty=TTYS --cols=N --columns=N --width=N "
    "--lines=N --rows=N --format=FORMAT --forest --headers --no-headers --no-header "
    "--cumulative --deselect --signames --help --info -V --version",
    checks={"-n": lambda v: "reads a namelist file"},
)
# BSD-style letters without a dash. Left out: e (shows every process's environment).
_PS_BSD_FLAGS = set("aAcfghHjlLmMrsSTuvVwxXZn")
_PS_BSD_VALUE = set("oOpqtUk")
_PS_FORMAT = re.compile(r"[A-Za-z0-9_,:%=+\-. ]*")


def ps(args: list[str], cwd: str | None) -> Allowed:
    """ps as procps reads it: dashed words are UNIX options, bare words BSD letters."""
    i = 0
    while i < len(args):
        word = args[i]
        if word.startswith("-"):
            # One dashed word at a time (its value may be the next word).
            chunk = [word]
            if i + 1 < len(args):
                chunk.append(args[i + 1])
            parsed = parse_options(chunk, _PS_UNIX, stop_at_operand=True)
            if parsed.problem:
                return refused(f"ps: {parsed.problem}")
            consumed = len(chunk) - len(parsed.operands)
            i += max(consumed, 1)
            continue
        if word.isdigit() or re.fullmatch(r"[0-9,]+", word):
            i += 1  # a bare number is a PID list
            continue
        for j, letter in enumerate(word):
            if letter in _PS_BSD_VALUE:
                if j + 1 == len(word) and i + 1 >= len(args):
                    return refused(f"ps {letter} needs a value")
                if j + 1 == len(word):
                    i += 1
                break
            if letter not in _PS_BSD_FLAGS:
                return refused(
                    f"ps: {letter!r} (in {word}) is not an allowed option"
                    + (" (it shows other processes' environments)" if letter == "e" else "")
                )
        i += 1
    return allowed("ps only lists processes")
