"""The `builtin:ops` summariser: real tool results -> a short Markdown answer.

Every sentence is computed from the text the tools returned (parsed by builtin_parsers);
nothing is assumed about the machine. A denied call is said to be denied, with the
operator's reason; a failed call says what failed. Excerpts of outside text pass through
`redact` before they are quoted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opscopilot import redact
from opscopilot.llm.providers import builtin_parsers as parsers

HIGH_DISK_PERCENT = 80


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """One tool call and what came back from it."""

    name: str
    arguments: dict[str, Any]
    content: str
    is_error: bool = False

    @property
    def command(self) -> str:
        return str(self.arguments.get("command", "")) if self.name == "run_command" else ""

    @property
    def argv(self) -> list[str]:
        try:
            return shlex.split(self.command)
        except ValueError:
            return self.command.split()

    @property
    def label(self) -> str:
        if self.command:
            return self.command
        target = (
            self.arguments.get("url") or self.arguments.get("unit") or self.arguments.get("path")
        )
        return f"{self.name} {target}" if target else self.name


@dataclass(slots=True)
class _Report:
    findings: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)  # topics a dedicated check reports


# A dedicated command's topic: system_info leaves it to that command instead of saying it twice.
_TOPIC_OF_PROGRAM = {"uptime": "load", "free": "memory", "df": "disk", "ps": "processes"}


def summarise(outcomes: list[ToolOutcome]) -> str:
    """A concise Markdown summary of every outcome, then next steps when something is wrong."""
    report = _Report()
    for outcome in outcomes:
        program = outcome.argv[0].rsplit("/", 1)[-1] if outcome.argv else ""
        if program in _TOPIC_OF_PROGRAM and not outcome.is_error:
            report.covered.add(_TOPIC_OF_PROGRAM[program])
    cores = _cores(outcomes)
    ran = 0
    for outcome in outcomes:
        denial = _denial(outcome) if outcome.is_error else None
        if denial:
            report.findings.append(denial)
            continue
        ran += 1
        _summariser(outcome)(outcome, report, cores)
    heading = "Here is what the checks show:\n\n" if ran else ""
    text = heading + "\n".join(f"- {f}" for f in report.findings)
    if report.next_steps:
        text += "\n\n**Next steps**\n" + "\n".join(f"- {s}" for s in report.next_steps)
    return text + "\n"


Summariser = Callable[[ToolOutcome, _Report, "int | None"], None]


def _summariser(outcome: ToolOutcome) -> Summariser:
    program = outcome.argv[0].rsplit("/", 1)[-1] if outcome.argv else ""
    if outcome.name == "tail_log" or program == "journalctl":
        return _logs
    if outcome.name == "http_check":
        return _http
    if outcome.name == "system_info":
        return _system_info
    if outcome.name == "query_metrics":
        return _metrics
    if program == "systemctl" and "status" in outcome.argv:
        return _service_status
    return {
        "df": _disk,
        "free": _memory,
        "uptime": _load,
        "ps": _processes,
        "ss": _ports,
        "netstat": _ports,
        "nproc": _nproc,
    }.get(program, _generic)


def _metrics(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    from opscopilot.llm.providers.builtin_metrics import summary

    if outcome.is_error:
        report.findings.append(f"Prometheus failed: {redact.redact(outcome.content[:200])}")
        return
    finding, step = summary(str(outcome.arguments.get("query", "")), outcome.content)
    report.findings.append(redact.redact(finding))
    if step:
        report.next_steps.append(step)


# How the agent core words a call that never ran (agent/core.py `_deny`).
_DENIALS = (
    (re.compile(r"(?is)^the operator denied this call(?::\s*(.*?))?\.?$"), "You denied"),
    (re.compile(r"(?is)^denied by policy(?::\s*(.*?))?\.?$"), "The approval policy denied"),
    (re.compile(r"(?is)^not run(?::\s*(.*?))?\.?$"), "I did not run"),
)


def _denial(outcome: ToolOutcome) -> str | None:
    """ "You denied X: reason" for a call the operator or the policy refused, else None."""
    content = outcome.content.strip()
    for pattern, subject in _DENIALS:
        match = pattern.match(content)
        if match:
            reason = _quote_free(match.group(1) or "") or "no reason given"
            tail = "" if subject == "I did not run" else " — I did not run it"
            return f"{subject} `{outcome.label}`: {reason}{tail}."
    return None


def _quote_free(text: str, limit: int = 200) -> str:
    """Outside text made safe to inline: redacted, one line, bounded, no stray backticks."""
    line = " ".join(redact.redact(text).split()).replace("`", "'")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _first_lines(content: str, count: int = 2) -> str:
    lines = [line for line in content.splitlines() if line.strip()]
    return _quote_free(" / ".join(lines[:count])) or "no output"


def _failed(outcome: ToolOutcome, report: _Report) -> bool:
    """True (and reported) when the call failed and its output can't be read as a result."""
    if not outcome.is_error:
        return False
    report.findings.append(f"`{outcome.label}` failed: {_first_lines(outcome.content)}.")
    return True


def _unreadable(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    """Output a parser did not recognise: say it failed, or quote its first lines."""
    if not _failed(outcome, report):
        _generic(outcome, report, cores)


def _cores(outcomes: list[ToolOutcome]) -> int | None:
    for outcome in outcomes:
        if outcome.is_error:
            continue
        if outcome.name == "system_info" or (outcome.argv[:1] == ["nproc"]):
            cores = parsers.parse_cores(outcome.content)
            if cores:
                return cores
    return None


# --------------------------------------------------------------------------- per tool


def _disk(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    rows = parsers.parse_df(outcome.content)
    if rows is None:
        _unreadable(outcome, report, cores)
        return
    _disk_findings(outcome.label, rows, "Inodes" if "-i" in outcome.argv else "Disk", report)


def _disk_findings(label: str, rows: list[parsers.Filesystem], what: str, report: _Report) -> None:
    if not rows:
        report.findings.append(f"**{what}** (`{label}`): no real filesystems listed.")
        return
    high = [r for r in sorted(rows, key=lambda r: -r.percent) if r.percent >= HIGH_DISK_PERCENT]
    if high:
        listed = ", ".join(f"`{r.mount}` {r.percent}% ({r.avail} free of {r.size})" for r in high)
        report.findings.append(
            f"**{what}** (`{label}`): {len(high)} of {len(rows)} filesystems at or above "
            f"{HIGH_DISK_PERCENT}%: {listed}."
        )
        worst = high[0]
        if what == "Inodes":
            report.next_steps.append(
                f"Find the directory with many small files on `{worst.mount}`."
            )
        else:
            report.next_steps.append(
                f"Free space on `{worst.mount}`: look for big files (`du -xh --max-depth=1 "
                f"{worst.mount}`) and old rotated logs, or grow the volume."
            )
        return
    fullest = max(rows, key=lambda r: r.percent)
    report.findings.append(
        f"**{what}** (`{label}`): nothing at or above {HIGH_DISK_PERCENT}%; the fullest "
        f"is `{fullest.mount}` at {fullest.percent}% ({fullest.avail} free of {fullest.size})."
    )


def _memory(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    memory = parsers.parse_free(outcome.content)
    if memory is None or memory.total_mib <= 0:
        _unreadable(outcome, report, cores)
        return
    _memory_findings(outcome.label, memory, report)


def _memory_findings(label: str, memory: parsers.Memory, report: _Report) -> None:
    share = 100.0 * memory.available_mib / max(memory.total_mib, 1.0)
    swap = (
        f"swap {memory.swap_used_mib:.0f} of {memory.swap_total_mib:.0f} MiB used"
        if memory.swap_total_mib
        else "no swap configured"
    )
    verdict = "tight" if share < 10 else ("getting low" if share < 20 else "fine")
    report.findings.append(
        f"**Memory** (`{label}`): {memory.available_mib:.0f} MiB available of "
        f"{memory.total_mib:.0f} MiB ({share:.0f}%) — {verdict}; {swap}."
    )
    if share < 10:
        report.next_steps.append(
            "See which processes hold the memory "
            "(`ps -eo pid,comm,rss --sort=-rss`) and check for OOM kills "
            "(`journalctl -k -g oom`)."
        )
    elif memory.swap_total_mib and memory.swap_used_mib / memory.swap_total_mib > 0.5:
        report.next_steps.append("More than half of swap is in use: the box is likely swapping.")


def _load(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    load = parsers.parse_uptime(outcome.content)
    if load is None:
        _unreadable(outcome, report, cores)
        return
    _load_findings(outcome.label, load, cores, report)


def _load_findings(label: str, load: parsers.Load, cores: int | None, report: _Report) -> None:
    trend = (
        "rising"
        if load.one > load.fifteen * 1.5 + 0.1
        else "falling"
        if load.fifteen > load.one * 1.5 + 0.1
        else "steady"
    )
    figures = f"{load.one:.2f} / {load.five:.2f} / {load.fifteen:.2f} (1/5/15 min, {trend})"
    uptime = f"; up {load.up}" if load.up else ""
    if not cores:
        report.findings.append(f"**Load** (`{label}`): {figures}{uptime}.")
        return
    per_core = load.one / cores
    verdict = "overloaded" if per_core > 1.0 else "busy" if per_core > 0.7 else "fine"
    report.findings.append(
        f"**Load** (`{label}`): {figures} on {cores} cores — {per_core:.2f} per core, "
        f"{verdict}{uptime}."
    )
    if per_core > 1.0:
        report.next_steps.append(
            "Find what is using the CPU (`ps -eo pid,user,pcpu,pmem,comm --sort=-pcpu`)."
        )


def _nproc(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    if not _failed(outcome, report):
        report.findings.append(f"**Cores**: {parsers.parse_cores(outcome.content) or '?'}.")


def _processes(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    processes = parsers.parse_ps(outcome.content)
    if not processes:
        _unreadable(outcome, report, cores)
        return
    _process_findings(outcome.label, processes, report, count=len(processes))


def _process_findings(
    label: str, processes: list[parsers.Process], report: _Report, *, count: int | None
) -> None:
    top = ", ".join(
        f"`{p.command}` (pid {p.pid}, {p.cpu:.1f}% CPU" + (f", {p.mem:.1f}% MEM)" if p.mem else ")")
        for p in processes[:5]
    )
    running = f"{count} running; " if count else ""
    report.findings.append(f"**Processes** (`{label}`): {running}busiest: {top}.")


def _ports(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    ports = parsers.parse_listening(outcome.content)
    if ports is None:
        _unreadable(outcome, report, cores)
        return
    if not ports:
        report.findings.append(f"**Listening ports** (`{outcome.label}`): none.")
        return
    listed = ", ".join(f"{port} ({', '.join(addresses)})" for port, addresses in ports)
    report.findings.append(f"**Listening ports** (`{outcome.label}`): {listed}.")


def _logs(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    log = parsers.parse_log(outcome.content)
    if outcome.is_error and not log.errors and log.lines <= 3:
        _failed(outcome, report)
        return
    where = f"**Log** (`{outcome.label}`)"
    if not log.lines:
        report.findings.append(f"{where}: no entries.")
        return
    if not log.errors:
        report.findings.append(f"{where}: {log.lines} lines, none look like errors.")
        return
    text = f"{where}: {len(log.errors)} of {log.lines} lines look like errors"
    if log.most_common and log.most_common[1] > 1:
        text += f"; most frequent ({log.most_common[1]}×): `{_quote_free(log.most_common[0])}`"
    text += f"; latest: `{_quote_free(log.errors[-1], 160)}`."
    report.findings.append(text)


def _http(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    url = outcome.arguments.get("url", "the URL")
    probe = parsers.parse_http(outcome.content)
    if probe.status is None:
        reason = _first_lines(outcome.content, 1)
        report.findings.append(f"**{url}**: no HTTP answer — {reason}.")
        report.next_steps.append(
            f"Check that the service behind {url} is running and listening (`ss -ltn`)."
        )
        return
    latency = f" in {probe.latency_ms:.0f} ms" if probe.latency_ms is not None else ""
    if probe.status >= 500:
        verdict = "the server is failing (5xx)"
        report.next_steps.append(
            f"Read the error log of the service behind {url} (`tail_log` on its unit or error log)."
        )
    elif probe.status >= 400:
        verdict = "a client error (4xx): check the path and auth"
    else:
        verdict = "healthy"
    expected = outcome.arguments.get("expect_status")
    if expected and int(expected) != probe.status:
        verdict += f", expected {expected}"
    report.findings.append(f"**{url}**: HTTP {probe.status}{latency} — {verdict}.")


def _service_status(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    unit = next((a for a in outcome.argv[2:] if not a.startswith("-")), "the unit")
    lines = outcome.content.splitlines()
    active = next(
        (line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("Active:")),
        None,
    )
    if active:
        report.findings.append(f"**{unit}**: {_quote_free(active, 120)}.")
        if not active.startswith("active"):
            report.next_steps.append(f"Read why {unit} stopped (`tail_log` with unit {unit}).")
    elif (
        "not been booted with systemd" in outcome.content
        or "Failed to connect to bus" in outcome.content
    ):
        report.findings.append(
            f"**{unit}**: systemd is not running on this host (a container?),"
            " so units can't be queried."
        )
    else:
        _unreadable(outcome, report, cores)


def _system_info(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    info = None if outcome.is_error else parsers.parse_system_info(outcome.content)
    if info is None:
        _unreadable(outcome, report, cores)
        return
    load = parsers.parse_uptime(outcome.content)
    if load is not None and "load" not in report.covered:
        _load_findings(outcome.label, load, cores, report)
    if info.memory is not None and info.memory.total_mib > 0 and "memory" not in report.covered:
        _memory_findings(outcome.label, info.memory, report)
    if info.disks and "disk" not in report.covered:
        _disk_findings(outcome.label, info.disks, "Disk", report)
    if info.processes and "processes" not in report.covered:
        _process_findings(outcome.label, info.processes, report, count=None)


def _generic(outcome: ToolOutcome, report: _Report, cores: int | None) -> None:
    code = parsers.exit_code(outcome.content)
    if outcome.is_error:
        status = f"failed (exit code {code})" if code is not None else "failed"
    else:
        status = "succeeded"
    output = [
        line
        for line in outcome.content.splitlines()
        if line.strip() and not line.startswith("[exit code")
    ]
    excerpt = f": {_first_lines(chr(10).join(output), 3)}" if output else " with no output"
    report.findings.append(f"`{outcome.label}` {status}{excerpt}.")
