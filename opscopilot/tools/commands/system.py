"""Rules for processes, files, kernel settings, packages and interpreters."""

from __future__ import annotations

from collections.abc import Callable

from opscopilot.tools.argv_parsing import parse_args
from opscopilot.tools.commands.judged import Judged, destructive, first, read, write

# --- processes, files, misc ------------------------------------------------------------------


def kill(args: list[str]) -> Judged:
    parsed = parse_args(args, {"-s", "--signal", "-n"})
    if any(a in ("-l", "-L", "--list", "--table") for a in args):
        return read("kill -l only lists signals")
    # Signals are read from the raw words: `-KILL` is one signal name, not a cluster of flags.
    given = [a[1:] for a in args if a.startswith("-") and not a.startswith("--")]
    given.append(parsed.value("-s", "--signal", "-n") or "")
    names = {g.upper().removeprefix("SIG") for g in given}
    if names & {"KILL", "9"}:
        return destructive("kill -9 ends processes without cleanup")
    return write("kill signals processes")


def make_find() -> Callable[[list[str]], Judged]:
    def rule(args: list[str]) -> Judged:
        for action in ("-exec", "-execdir", "-ok", "-okdir"):
            if action in args:
                start = args.index(action) + 1
                end = start
                while end < len(args) and args[end] not in (";", "+"):
                    end += 1
                inner = [w for w in args[start:end] if w != "{}"] or ["true"]
                return Judged("write", f"find {action} runs a command per file", inner)
        if "-delete" in args:
            return destructive("find -delete removes files")
        if any(a in args for a in ("-fprint", "-fprint0", "-fprintf", "-fls")):
            return write("find -fprint writes a file")
        return read("find only reads")

    return rule


def dmesg(args: list[str]) -> Judged:
    if parse_args(args, {"-n", "--console-level", "-f", "--facility", "-l", "--level"}).has(
        "-c",
        "-C",
        "--clear",
        "--read-clear",
        "-D",
        "--console-off",
        "-E",
        "--console-on",
        "-n",
        "--console-level",
    ):
        return write("dmesg with a flag that clears or changes the kernel log")
    return read("dmesg only reads")


def top(args: list[str]) -> Judged:
    parsed = parse_args(args, {"-n", "-d", "-p", "-u", "-U", "-o", "-w"})
    if parsed.has("-b"):
        return read("top -b only reads")
    return write("interactive top (use top -b -n 1)")


def hostname(args: list[str]) -> Judged:
    parsed = parse_args(args, {"-F", "--file"})
    if parsed.positionals or parsed.has("-F", "--file", "-b", "--boot"):
        return write("hostname NAME changes the host name")
    return read("hostname only reads")


def date(args: list[str]) -> Judged:
    parsed = parse_args(
        args,
        {"-d", "--date", "-f", "--file", "-r", "--reference", "-s", "--set", "-I", "--iso-8601"},
    )
    if parsed.has("-s", "--set") or any(not p.startswith("+") for p in parsed.positionals):
        return write("date with a value sets the clock")
    return read("date only reads")


def mount(args: list[str]) -> Judged:
    parsed = parse_args(args, {"-t", "--types", "-o", "--options", "-O"})
    if not parsed.positionals and not parsed.has("-a", "--all", "--bind", "--move", "-B", "-M"):
        return read("mount without arguments lists mounts")
    return write("mount changes mounted file systems")


def sysctl(args: list[str]) -> Judged:
    parsed = parse_args(args, {"-p", "--load", "-r", "--pattern"}, optional_value={"-p"})
    if parsed.has("-w", "--write", "-p", "--load", "--system") or any(
        "=" in p for p in parsed.positionals
    ):
        return write("sysctl writes kernel parameters")
    return read("sysctl only reads")


def getent(args: list[str]) -> Judged:
    database = first(parse_args(args, {"-s", "--service"}))
    if database in {"shadow", "gshadow"}:
        return write("getent shadow prints password hashes")
    return read("getent only reads")


def sort(args: list[str]) -> Judged:
    if parse_args(args, {"-o", "--output", "-k", "-t", "-S", "-T"}).has("-o", "--output"):
        return write("sort -o writes a file")
    return read("sort only reads")


def uniq(args: list[str]) -> Judged:
    if len(parse_args(args, {"-f", "-s", "-w"}).positionals) > 1:
        return write("uniq IN OUT writes a file")
    return read("uniq only reads")


def sed(args: list[str]) -> Judged:
    parsed = parse_args(args, {"-e", "--expression", "-f", "--file", "-l"}, optional_value={"-i"})
    if parsed.has("-i", "--in-place") or parsed.long_prefixed("--in-place"):
        return write("sed -i rewrites files in place")
    return write("sed scripts can write files or run commands (w, e)")


def crontab(args: list[str]) -> Judged:
    parsed = parse_args(args, {"-u"})
    if parsed.has("-r"):
        return destructive("crontab -r removes the crontab")
    if parsed.has("-l") and not parsed.positionals:
        return read("crontab -l only reads")
    return write("crontab replaces or edits the crontab")


def chmod_like(name: str) -> Callable[[list[str]], Judged]:
    def rule(args: list[str]) -> Judged:
        if parse_args(args, {"--reference", "--from"}).has("-R", "--recursive"):
            return destructive(f"{name} -R changes a whole tree")
        return write(f"{name} changes permissions or owners")

    return rule


def package_manager(
    name: str, read_verbs: set[str], remove_verbs: set[str]
) -> Callable[[list[str]], Judged]:
    def rule(args: list[str]) -> Judged:
        verb = first(parse_args(args, {"-o", "-c", "-t", "--root", "--installroot"}))
        if verb in read_verbs:
            return read(f"{name} {verb} only reads")
        if verb in remove_verbs:
            return destructive(f"{name} {verb} removes packages")
        return write(f"{name} {verb or ''} changes installed software".replace("  ", " "))

    return rule


def dpkg(args: list[str]) -> Judged:
    parsed = parse_args(args, {"--root", "--admindir"})
    if parsed.has("-r", "--remove", "-P", "--purge"):
        return destructive("dpkg -r/-P removes packages")
    if parsed.has(
        "-l",
        "--list",
        "-L",
        "--listfiles",
        "-s",
        "--status",
        "-S",
        "--search",
        "-p",
        "--print-avail",
        "--get-selections",
        "--print-architecture",
    ):
        return read("dpkg query only reads")
    return write("dpkg changes installed software")


def rpm(args: list[str]) -> Judged:
    parsed = parse_args(args, {"--root", "--dbpath", "-f", "--queryformat", "--qf"})
    if parsed.has("-e", "--erase"):
        return destructive("rpm -e removes packages")
    if parsed.has("-q", "--query", "-V", "--verify"):
        return read("rpm -q only reads")
    return write("rpm changes installed software")


def tar(args: list[str]) -> Judged:
    first = args[0] if args else ""
    if "--list" in args or (
        first
        and not first.startswith("--")
        and "t" in first.lstrip("-")
        and not any(c in first for c in "xcru")
    ):
        return read("tar -t only lists")
    return write("tar extracts or creates archives")


def ifconfig(args: list[str]) -> Judged:
    if len(parse_args(args).positionals) <= 1:
        return read("ifconfig only reads")
    return write("ifconfig changes an interface")


def interpreter(name: str) -> Callable[[list[str]], Judged]:
    def rule(args: list[str]) -> Judged:
        if any(a in ("--version", "-V") for a in args) and len(args) == 1:
            return read(f"{name} --version only reads")
        return write(f"{name} runs arbitrary code")

    return rule
