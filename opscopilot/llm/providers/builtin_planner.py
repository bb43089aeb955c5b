"""The `builtin:ops` planner: an operator's words -> the tool calls that answer them.

A fixed, ordered table of patterns. Mutating requests ("restart nginx", "kill pid 123")
become the matching `run_command` proposal, which the approval policy sends to the
operator; everything else maps to read-only diagnostics. The text a mutating rule
consumed is blanked before the diagnostic rules run, so "delete old logs" proposes a
delete and does not also tail a log. Pure functions of the text: no clock, no randomness.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_CALLS = 6

# Words that follow a verb but never name a service ("restart the", "stop it").
_NOT_A_NAME = frozenset(
    {
        "the",
        "a",
        "an",
        "it",
        "this",
        "that",
        "them",
        "of",
        "to",
        "with",
        "from",
        "by",
        "up",
        "over",
        "again",
        "all",
        "now",
        "my",
        "our",
        "your",
        "please",
        "and",
        "then",
        "is",
        "its",
        "service",
        "services",
        "process",
        "processes",
        "server",
        "machine",
        "host",
        "box",
        "system",
        "everything",
        "me",
        "for",
        "on",
        "in",
        "at",
    }
)

KNOWN_SERVICES = (
    "nginx",
    "apache2",
    "httpd",
    "haproxy",
    "caddy",
    "traefik",
    "envoy",
    "php-fpm",
    "postgresql",
    "postgres",
    "mysql",
    "mariadb",
    "redis",
    "memcached",
    "mongod",
    "mongodb",
    "rabbitmq-server",
    "rabbitmq",
    "kafka",
    "elasticsearch",
    "docker",
    "containerd",
    "kubelet",
    "sshd",
    "ssh",
    "cron",
    "systemd-journald",
    "grafana-server",
    "prometheus",
    "node_exporter",
    "gunicorn",
    "uwsgi",
    "celery",
    "supervisor",
    "fail2ban",
    "ufw",
)
_PRONOUNS = frozenset({"it", "this", "that", "them"})
_SERVICE_WORDS = re.compile(r"\b(" + "|".join(re.escape(s) for s in KNOWN_SERVICES) + r")\b")
_URL = re.compile(r"https?://[^\s<>\"'`()\[\]]+")
_LOG_PATH = re.compile(r"(/[\w./@-]+\.log(?:\.\d+)?|/var/log/[\w./@-]+)")
# A ticket's evidence: "Attached evidence ...:" then one "- /absolute/path" per line.
_ATTACHMENTS = re.compile(
    r"^attached evidence[^\n]*:[ \t]*\n((?:[ \t]*- [^\n]+\n?)+)", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One tool call the builtin model will ask for, and why, in a few words."""

    tool: str
    arguments: dict[str, Any]
    purpose: str
    mutating: bool = False

    @property
    def display(self) -> str:
        """How the call reads in prose: the command itself, or tool + its main argument."""
        if self.tool == "run_command":
            return str(self.arguments.get("command", ""))
        if self.tool == "http_check":
            return f"http_check {self.arguments.get('url', '')}"
        if self.tool == "query_metrics":
            return f"query_metrics {self.arguments.get('query', '')}"
        if self.tool == "tail_log":
            target = self.arguments.get("unit") or self.arguments.get("path") or ""
            return f"tail_log {target}".strip()
        return self.tool


@dataclass(slots=True)
class _Planner:
    text: str
    context: str
    calls: list[PlannedCall] = field(default_factory=list)

    def add(self, call: PlannedCall) -> None:
        if all((c.tool, c.arguments) != (call.tool, call.arguments) for c in self.calls):
            self.calls.append(call)

    def consume(self, match: re.Match[str]) -> None:
        start, end = match.span()
        self.text = self.text[:start] + " " * (end - start) + self.text[end:]


def attached_files(text: str) -> tuple[str, list[str]]:
    """Split a request into its words and the files attached as evidence (paths keep their case)."""
    match = _ATTACHMENTS.search(text)
    if match is None:
        return text, []
    paths = [line.strip()[2:].strip() for line in match.group(1).splitlines() if line.strip()]
    return text[: match.start()] + text[match.end() :], paths


def plan(text: str, context: str = "", *, metrics: bool = False) -> list[PlannedCall]:
    """The calls that answer `text`; `context` (earlier user turns) resolves "restart it".
    With `metrics` (query_metrics is offered) the fleet questions get PromQL too.

    A request with attached evidence (an incident ticket) is about the host the evidence
    came from, not this one: it reads the attachments and proposes the changes asked for,
    and runs no diagnostics of the local machine.
    """
    words, attachments = attached_files(text)
    planner = _Planner(text=" ".join(words.lower().split()), context=context.lower())
    for path in attachments:
        planner.add(
            PlannedCall(
                "tail_log", {"path": path, "lines": 200}, f"the attached {path.rsplit('/', 1)[-1]}"
            )
        )
    rules = _MUTATING_RULES if attachments else _MUTATING_RULES + _DIAGNOSTIC_RULES
    if metrics and not attachments:
        rules = [*rules, _metrics]
    for rule in rules:
        rule(planner)
    # Mutating rules run first (they consume their words) but read better after the checks.
    ordered = [c for c in planner.calls if not c.mutating] + [
        c for c in planner.calls if c.mutating
    ]
    return ordered[:MAX_CALLS]


def _command(command: str, purpose: str, *, mutating: bool = False) -> PlannedCall:
    return PlannedCall("run_command", {"command": command}, purpose, mutating)


def _service_in(text: str) -> str | None:
    match = _SERVICE_WORDS.search(text)
    return match.group(1) if match else None


def _resolve_name(p: _Planner, word: str, *, strict: bool) -> str | None:
    """The service a verb acts on; `strict` accepts only known services (start/stop)."""
    if word in _PRONOUNS:
        return _service_in(p.text) or _service_in(p.context)
    word = word.removesuffix(".service")
    if word in _NOT_A_NAME or (strict and word not in KNOWN_SERVICES):
        return None
    return word


# --------------------------------------------------------------------------- mutating rules


def _reboot(p: _Planner) -> None:
    pattern = r"\b(?:reboot|restart (?:the )?(?:server|machine|host|box|system))\b"
    for match in re.finditer(pattern, p.text):
        p.consume(match)
        p.add(_command("systemctl reboot", "reboot the host", mutating=True))


def _service_action(p: _Planner) -> None:
    pattern = (
        r"\b(restart|reload|start|stop|enable|disable)\s+(?:the\s+)?"
        r"([a-z0-9][\w@-]*(?:\.service)?)(\s+(?:service|unit|daemon)\b)?"
    )
    for match in re.finditer(pattern, p.text):
        verb, explicit = match.group(1), bool(match.group(3))
        # "start"/"stop" are common English; only a known or explicitly named service counts.
        strict = verb not in ("restart", "reload") and not explicit
        name = _resolve_name(p, match.group(2), strict=strict)
        if name is None:
            continue
        p.consume(match)
        p.add(_command(f"systemctl {verb} {name}", f"{verb} {name}", mutating=True))


def _kill(p: _Planner) -> None:
    force = bool(re.search(r"\b(?:force|kill -9|sigkill|hard)\b", p.text))
    signal = "-9 " if force else ""
    for match in re.finditer(r"\bkill\s+(?:-9\s+)?(?:pid\s+|process\s+)?(\d+)\b", p.text):
        p.consume(match)
        p.add(
            _command(
                f"kill {signal}{match.group(1)}", f"stop process {match.group(1)}", mutating=True
            )
        )
    for match in re.finditer(r"\b(?:kill|pkill)\s+(?:-9\s+)?(?:the\s+)?([a-z][\w.-]*)", p.text):
        name = match.group(1)
        if name in _NOT_A_NAME or name in {"pid", "process"}:
            continue
        p.consume(match)
        p.add(_command(f"pkill {signal}{name}", f"stop every {name} process", mutating=True))


def _clear_cache(p: _Planner) -> None:
    pattern = (
        r"\b(?:clear|flush|drop|purge|empty|wipe)\s+(?:the\s+)?(?:([a-z0-9][\w.-]*)\s+)?caches?\b"
    )
    for match in re.finditer(pattern, p.text):
        p.consume(match)
        which = match.group(1)
        if which in (None, "page", "system", "memory", "kernel", "os", "file", "disk"):
            p.add(
                _command("sysctl -w vm.drop_caches=3", "drop the kernel page cache", mutating=True)
            )
        elif which in ("apt", "package", "packages"):
            p.add(_command("apt-get clean", "empty the apt package cache", mutating=True))
        else:
            p.add(
                _command(
                    f"find /var/cache/{which} -mindepth 1 -delete",
                    f"empty /var/cache/{which}",
                    mutating=True,
                )
            )


def _delete_old_logs(p: _Planner) -> None:
    pattern = (
        r"\b(?:delete|remove|clean(?: up)?|purge|prune|clear)\s+(?:the\s+|up\s+)?"
        r"old\s+(?:([a-z0-9][\w.-]*)\s+)?logs?\b"
    )
    for match in re.finditer(pattern, p.text):
        p.consume(match)
        directory = f"/var/log/{match.group(1)}" if match.group(1) else "/var/log"
        p.add(
            _command(
                f"find {directory} -type f -name '*.gz' -mtime +7 -delete",
                f"delete rotated logs older than 7 days in {directory}",
                mutating=True,
            )
        )
    for match in re.finditer(r"\brotate\s+(?:the\s+)?logs?\b", p.text):
        p.consume(match)
        p.add(_command("logrotate -f /etc/logrotate.conf", "force a log rotation", mutating=True))


def _delete_path(p: _Planner) -> None:
    for match in re.finditer(
        r"\b(?:delete|remove|rm)\s+(?:the\s+)?(?:file\s+)?(/[\w./@-]+)", p.text
    ):
        p.consume(match)
        p.add(
            _command(f"rm {shlex.quote(match.group(1))}", f"delete {match.group(1)}", mutating=True)
        )


# --------------------------------------------------------------------------- diagnostics


def _words(p: _Planner, pattern: str) -> bool:
    return re.search(pattern, p.text) is not None


def _urls(p: _Planner) -> None:
    for match in _URL.finditer(p.text):
        url = match.group(0).rstrip(".,;:!?")
        p.add(PlannedCall("http_check", {"url": url}, f"probe {url}"))
    if not _URL.search(p.text) and _words(
        p,
        r"\b(?:health|healthy|5xx|50[0-4]|gateway|bad gateway|http errors?|site down|"
        r"website|endpoint)\b",
    ):
        p.add(PlannedCall("http_check", {"url": "http://127.0.0.1/"}, "probe the local web server"))
        if _words(p, r"\b(?:5xx|50[0-4]|gateway)\b") and not _service_in(p.text):
            p.add(
                PlannedCall(
                    "tail_log",
                    {"path": "/var/log/nginx/error.log", "lines": 100},
                    "read the gateway's error log",
                )
            )


def _service_status(p: _Planner) -> None:
    patterns = (
        r"\bis\s+(?:the\s+)?([a-z][\w@.-]*)\s+(?:service\s+)?(?:running|up|down|alive|active|dead|ok)\b",
        r"\bstatus\s+of\s+(?:the\s+)?([a-z][\w@.-]*)",
        r"\b([a-z][\w@.-]*)\s+(?:service\s+)?status\b",
    )
    for pattern in patterns:
        for match in re.finditer(pattern, p.text):
            name = match.group(1).removesuffix(".service")
            known = name in KNOWN_SERVICES or "service" in match.group(0)
            if name in _NOT_A_NAME or not known:
                continue
            p.consume(match)
            p.add(_command(f"systemctl status {name} --no-pager", f"status of {name}"))


def _disk(p: _Planner) -> None:
    if _words(
        p,
        r"\b(?:disks?|space|full|df|storage|filesystems?|partitions?|volumes?|"
        r"no space left)\b",
    ):
        p.add(_command("df -h", "disk usage"))
    if _words(p, r"\binodes?\b"):
        p.add(_command("df -i", "inode usage"))


def _memory(p: _Planner) -> None:
    if _words(p, r"\b(?:memory|mem|ram|oom|oom-killer|swap|swapping|out of memory)\b"):
        p.add(_command("free -m", "memory"))


def _load(p: _Planner) -> None:
    if _words(
        p,
        r"\b(?:load|cpus?|slow|sluggish|laggy|lagging|hangs?|hanging|busy|"
        r"performance|unresponsive)\b",
    ):
        p.add(_command("uptime", "load averages"))
        p.add(PlannedCall("system_info", {}, "a system overview"))


def _processes(p: _Planner) -> None:
    if _words(p, r"\b(?:process|processes|ps|top|running|hogging|pids?)\b"):
        # -eo with `comm` rather than `aux`: short names, and no secrets from argv.
        p.add(_command("ps -eo pid,user,pcpu,pmem,comm --sort=-pcpu", "processes by CPU"))


def _ports(p: _Planner) -> None:
    if _words(p, r"\b(?:ports?|listening|listens?|sockets?|bound|netstat|ss)\b"):
        p.add(_command("ss -ltn", "listening TCP ports"))


def _logs(p: _Planner) -> None:
    if not _words(
        p,
        r"\b(?:logs?|journal|errors?|exceptions?|stack ?traces?|crash(?:es|ed)?|"
        r"failing|failed|failures?|warnings?)\b",
    ):
        return
    path = _LOG_PATH.search(p.text)
    if path:
        p.add(
            PlannedCall(
                "tail_log", {"path": path.group(1), "lines": 100}, f"the end of {path.group(1)}"
            )
        )
        return
    named = re.search(r"\blogs?\s+(?:for|of|from)\s+(?:the\s+)?([a-z][\w@.-]*)", p.text)
    service = _service_in(p.text) or (named.group(1) if named else None)
    if service and service not in _NOT_A_NAME:
        p.add(PlannedCall("tail_log", {"unit": service, "lines": 100}, f"{service}'s recent log"))
    else:
        p.add(_command("journalctl -p err -n 50 --no-pager", "recent errors in the journal"))


def _metrics(p: _Planner) -> None:
    """Fleet-wide PromQL for the same questions, when a Prometheus is configured."""
    from opscopilot.llm.providers.builtin_metrics import checks_for

    for check in checks_for(p.text):
        p.add(
            PlannedCall(
                "query_metrics",
                {"query": check.query},
                f"{check.topic} in Prometheus",
            )
        )


_MUTATING_RULES: list[Callable[[_Planner], None]] = [
    _reboot,
    _delete_old_logs,
    _clear_cache,
    _kill,
    _delete_path,
    _service_action,
]
_DIAGNOSTIC_RULES: list[Callable[[_Planner], None]] = [
    _urls,
    _service_status,
    _disk,
    _memory,
    _load,
    _processes,
    _ports,
    _logs,
]
