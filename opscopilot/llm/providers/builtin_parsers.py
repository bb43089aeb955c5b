"""Parsers for the output of the diagnostics `builtin:ops` runs (df, free, uptime, ps, ss, logs).

Each takes the tool result's text exactly as the model receives it (stdout, maybe a
`[stderr]` block and an `[exit code N]` line, or a JSON object) and returns plain data, or
None when the text isn't what it expected. They look for their table's header instead of
assuming it is on the first line, so a banner or a JSON wrapper does not throw them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_PSEUDO_FS = frozenset(
    {
        "tmpfs",
        "devtmpfs",
        "udev",
        "overlay",
        "none",
        "shm",
        "squashfs",
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
    }
)
_UNITS = {
    "": 1.0,
    "b": 1 / 2**20,
    "k": 1 / 1024,
    "ki": 1 / 1024,
    "kib": 1 / 1024,
    "m": 1.0,
    "mi": 1.0,
    "mib": 1.0,
    "g": 1024.0,
    "gi": 1024.0,
    "gib": 1024.0,
    "t": 2**20,
    "ti": 2**20,
    "tib": 2**20,
}


def as_text(content: str) -> str:
    """A JSON result flattened to `key: value` lines; anything else unchanged."""
    stripped = content.strip()
    if not stripped.startswith(("{", "[")):
        return content
    try:
        data = json.loads(stripped)
    except ValueError:
        return content
    lines: list[str] = []
    _flatten(data, "", lines)
    return "\n".join(lines)


def _flatten(value: Any, prefix: str, lines: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}{key}" if not prefix else f"{prefix}.{key}", lines)
    elif isinstance(value, list):
        for item in value:
            _flatten(item, prefix, lines)
    elif isinstance(value, str) and "\n" in value:
        lines.extend(value.splitlines())  # embedded command output keeps its lines
    else:
        lines.append(f"{prefix}: {value}" if prefix else str(value))


def exit_code(content: str) -> int | None:
    match = re.search(r"\[exit code (-?\d+)\]", content)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- df


@dataclass(frozen=True, slots=True)
class Filesystem:
    device: str
    size: str
    avail: str
    percent: int
    mount: str


def parse_df(content: str) -> list[Filesystem] | None:
    """`df -h` / `df -i` rows of real filesystems (pseudo and snap loop mounts skipped)."""
    lines = as_text(content).splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Filesystem")), None)
    if start is None:
        return None
    rows: list[Filesystem] = []
    carried = ""
    for line in lines[start + 1 :]:
        if not line.strip() or line.startswith("["):
            continue
        fields = (carried + " " + line).split() if carried else line.split()
        if len(fields) == 1:  # a long device name wraps onto its own line
            carried = fields[0]
            continue
        carried = ""
        pct_index = next((i for i, f in enumerate(fields) if re.fullmatch(r"\d+%", f)), None)
        if pct_index is None or pct_index < 3:
            continue
        device, mount = fields[0], " ".join(fields[pct_index + 1 :])
        if device in _PSEUDO_FS or device.startswith("/dev/loop") or mount.startswith("/snap/"):
            continue
        rows.append(
            Filesystem(device, fields[1], fields[pct_index - 1], int(fields[pct_index][:-1]), mount)
        )
    return rows


# --------------------------------------------------------------------------- free


@dataclass(frozen=True, slots=True)
class Memory:
    total_mib: float
    available_mib: float
    used_mib: float
    swap_total_mib: float
    swap_used_mib: float


def _mib(value: str) -> float | None:
    match = re.fullmatch(r"(\d+(?:[.,]\d+)?)([a-zA-Z]*)", value)
    if not match or match.group(2).lower() not in _UNITS:
        return None
    return float(match.group(1).replace(",", ".")) * _UNITS[match.group(2).lower()]


def parse_free(content: str) -> Memory | None:
    """`free -m` (or -h): totals in MiB; `available` falls back to `free` on old procps."""
    lines = as_text(content).splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("Mem:"):
            continue
        header = lines[index - 1].split() if index else []
        values = [_mib(v) for v in line.split()[1:]]
        if not values or any(v is None for v in values):
            return None
        column = {name: i for i, name in enumerate(header)}
        total = values[0] or 0.0
        used = values[column.get("used", 1)] or 0.0
        available = values[column.get("available", column.get("free", 2))] or 0.0
        swap_total = swap_used = 0.0
        for other in lines[index + 1 :]:
            if other.startswith("Swap:"):
                swap = [_mib(v) or 0.0 for v in other.split()[1:3]]
                swap_total, swap_used = [*swap, 0.0, 0.0][:2]
        return Memory(total, available, used, swap_total, swap_used)
    return None


# --------------------------------------------------------------------------- uptime


@dataclass(frozen=True, slots=True)
class Load:
    one: float
    five: float
    fifteen: float
    up: str | None


def parse_uptime(content: str) -> Load | None:
    text = as_text(content)
    match = re.search(r"load averages?:\s*([\d.]+),?\s+([\d.]+),?\s+([\d.]+)", text)
    if not match:
        match = re.search(r"load[\w.]*:\s*\[?([\d.]+),\s*([\d.]+),\s*([\d.]+)", text)
    if not match:  # system_info: "load 0.39 0.20 0.09 on 2 cores"
        match = re.search(r"\bload\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\b", text)
    if not match:
        return None
    up = re.search(r"\bup\s+(.+?),\s+\d+\s+users?", text) or re.search(
        r"\bup\s+(\d+d \d+h \d+m)", text
    )
    return Load(
        float(match.group(1)),
        float(match.group(2)),
        float(match.group(3)),
        up.group(1).strip() if up else None,
    )


def parse_cores(content: str) -> int | None:
    """Cores from `nproc` (a bare number) or a system_info report that names them."""
    text = as_text(content).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    match = re.search(r"(?i)\b(?:cpu_count|cpus?|cores?|cpu\(s\)|nproc)\b\W{0,3}(\d+)\b", text)
    if not match:
        match = re.search(r"(?i)\b(\d+)\s+(?:cpus|cores|vcpus)\b", text)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- ps


@dataclass(frozen=True, slots=True)
class Process:
    pid: str
    cpu: float
    mem: float
    command: str


def parse_ps(content: str) -> list[Process] | None:
    """`ps aux` or `ps -eo pid,user,pcpu,pmem,comm`: processes, busiest CPU first."""
    lines = as_text(content).splitlines()
    start = next(
        (i for i, line in enumerate(lines) if re.search(r"\bPID\b", line) and "%CPU" in line), None
    )
    if start is None:
        return None
    header = lines[start].split()
    column = {name: i for i, name in enumerate(header)}
    processes: list[Process] = []
    for line in lines[start + 1 :]:
        fields = line.split(None, len(header) - 1)
        if len(fields) < len(header) or line.startswith("["):
            continue
        try:
            cpu = float(fields[column["%CPU"]])
            mem = float(fields[column["%MEM"]]) if "%MEM" in column else 0.0
        except ValueError:
            continue
        words = fields[-1].split()
        command = words[0].rsplit("/", 1)[-1] if words else "?"
        processes.append(Process(fields[column["PID"]], cpu, mem, command[:40]))
    return sorted(processes, key=lambda p: -p.cpu)


# --------------------------------------------------------------------------- system_info

_SI_MEMORY = re.compile(
    r"\bmemory (\S+ \S+) used of (\S+ \S+) \(\d+%\), (\S+ \S+) available; "
    r"swap (\S+ \S+) of (\S+ \S+)"
)
_SI_DISK = re.compile(
    r"^\s+(\S+) \((\S+)\) \S+ \S+ of (\S+ \S+) used \((\d+)%\), "
    r"(\S+ \S+) free"
)
_SI_PROCESS = re.compile(r"^\s+(\d+)\s+(\S+)\s+([\d.]+)%\s+\S+ \S+\s+(.+)$")


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """The figures of the `system_info` tool's text block (load, memory, disks, top CPU)."""

    memory: Memory | None
    disks: list[Filesystem]
    processes: list[Process]


def parse_system_info(content: str) -> SystemInfo | None:
    """The `system_info` text block; None when the text has none of its sections."""
    text = as_text(content)
    memory = None
    if match := _SI_MEMORY.search(text):
        used, total, available, swap_used, swap_total = (
            _mib(v.replace(" ", "")) or 0.0 for v in match.groups()
        )
        memory = Memory(total, available, used, swap_total, swap_used)
    disks: list[Filesystem] = []
    processes: list[Process] = []
    section = ""
    for line in text.splitlines():
        if not line.startswith(" "):
            section = line
            continue
        if section.startswith("disks") and (disk := _SI_DISK.match(line)):
            mount, fstype, size, percent, free = disk.groups()
            disks.append(
                Filesystem(
                    fstype, size.replace(" ", ""), free.replace(" ", ""), int(percent), mount
                )
            )
        elif section.startswith("top processes by cpu") and (proc := _SI_PROCESS.match(line)):
            pid, _user, cpu, name = proc.groups()
            processes.append(Process(pid, float(cpu), 0.0, name.strip()[:40]))
    if memory is None and not disks and not processes:
        return None
    return SystemInfo(memory, disks, processes)


# --------------------------------------------------------------------------- ss / netstat


def parse_listening(content: str) -> list[tuple[int, list[str]]] | None:
    """`ss -ltn` / `netstat -ltn` rows: (port, [addresses]) sorted by port."""
    ports: dict[int, list[str]] = {}
    found_header = False
    for line in as_text(content).splitlines():
        fields = line.split()
        if "Local" in fields:
            found_header = True
            continue
        if "LISTEN" not in fields or len(fields) < 4:
            continue
        local = fields[3]  # the local address is the 4th column in both ss and netstat
        address, _, port = local.rpartition(":")
        if port.isdigit():
            addresses = ports.setdefault(int(port), [])
            if address not in addresses:
                addresses.append(address)
    if not ports and not found_header:
        return None
    return sorted(ports.items())


# --------------------------------------------------------------------------- logs

_ERROR_LINE = re.compile(
    r"(?i)\b(?:error|err|crit(?:ical)?|fatal|panic|emerg|alert|fail(?:ed|ure)?|exception|"
    r"traceback|refused|timed? ?out|oom|segfault|killed)\b|\"\s[5]\d\d\s"
)


@dataclass(frozen=True, slots=True)
class LogReport:
    lines: int
    errors: list[str]
    most_common: tuple[str, int] | None


def parse_log(content: str) -> LogReport:
    """Count error-looking lines; the most repeated one, with numbers masked, is the lead."""
    lines = [
        line
        for line in content.splitlines()
        if line.strip()
        and not re.fullmatch(r"\[(?:exit code -?\d+|stderr)\]", line)
        and line.strip() != "-- No entries --"
    ]
    errors = [line for line in lines if _ERROR_LINE.search(line)]
    counts: dict[str, int] = {}
    for line in errors:
        shape = re.sub(r"\d+", "#", _message_part(line))
        counts[shape] = counts.get(shape, 0) + 1
    most_common = max(counts.items(), key=lambda kv: kv[1]) if counts else None
    return LogReport(len(lines), errors, most_common)


def _message_part(line: str) -> str:
    """Drop a leading syslog/nginx timestamp so repeats of one message group together."""
    line = re.sub(r"^\S+ \d+ [\d:]+ \S+ ", "", line)  # "Oct 12 10:00:01 host "
    line = re.sub(r"^\d{4}[/-]\d\d[/-]\d\d[ T][\d:.]+\S* ", "", line)  # 2025/01/02 10:00:00
    return line.strip()[:160]


# --------------------------------------------------------------------------- http_check


@dataclass(frozen=True, slots=True)
class HttpProbe:
    status: int | None
    latency_ms: float | None


def parse_http(content: str) -> HttpProbe:
    text = as_text(content)
    status = re.search(r"(?i)(?:\bstatus(?:[ _]?code)?|\bHTTP/[\d.]+|->)\W{0,3}([1-5]\d\d)\b", text)
    latency_ms: float | None = None
    timed = re.search(
        r"(?i)\b(?:latency|elapsed|duration|time|took)(_ms|_s)?\W{0,3}(\d+(?:\.\d+)?)\s*(ms|s)?\b",
        text,
    ) or re.search(r"(?i)\bin\s+()(\d+(?:\.\d+)?)\s*(ms|s)\b", text)
    if timed:
        unit = timed.group(3) or (timed.group(1) or "_ms")[1:]
        latency_ms = float(timed.group(2)) * (1000.0 if unit == "s" else 1.0)
    return HttpProbe(int(status.group(1)) if status else None, latency_ms)
