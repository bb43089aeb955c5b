"""builtin:ops and Prometheus: the PromQL that answers an operator's question, and how the
summary of its result reads. Used only when `query_metrics` is offered (a `[prometheus]`
url is configured); pure functions of text."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricCheck:
    """One fleet-wide question as PromQL, and when its answer counts as a problem."""

    topic: str
    query: str
    unit: str
    worst: str  # "highest" or "lowest": which series matters
    limit: float  # past this (above for highest, below for lowest) it is a problem
    words: str  # the operator's words that ask for it


_FS = 'fstype!~"tmpfs|overlay|squashfs|devtmpfs"'
CHECKS = (
    MetricCheck(
        "CPU busy",
        '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))',
        "%",
        "highest",
        85.0,
        r"\b(?:cpus?|load|busy|slow|sluggish|performance)\b",
    ),
    MetricCheck(
        "memory available",
        "100 * node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
        "%",
        "lowest",
        10.0,
        r"\b(?:memory|mem|ram|oom|swap|out of memory)\b",
    ),
    MetricCheck(
        "disk used",
        f"100 * (1 - node_filesystem_avail_bytes{{{_FS}}} / node_filesystem_size_bytes{{{_FS}}})",
        "%",
        "highest",
        80.0,
        r"\b(?:disks?|space|full|storage|filesystems?|volumes?)\b",
    ),
    MetricCheck(
        "scrape targets up",
        "up",
        "",
        "lowest",
        1.0,
        r"\b(?:targets?|scrapes?|exporters?|hosts? (?:is |are )?down|which hosts?|fleet)\b",
    ),
)
_BY_QUERY = {check.query: check for check in CHECKS}
_SERIES = re.compile(r"^- (?P<labels>.*?): (?:last )?(?P<value>-?[\d.e+-]+|no value)")
_INSTANCE = re.compile(r'instance="([^"]+)"')


def checks_for(text: str) -> list[MetricCheck]:
    """The fleet checks the operator's words ask for (lower-cased text)."""
    return [check for check in CHECKS if re.search(check.words, text)]


def _series(content: str) -> list[tuple[str, float]]:
    rows = []
    for line in content.splitlines():
        match = _SERIES.match(line)
        if match and match.group("value") != "no value":
            labels = match.group("labels")
            instance = _INSTANCE.search(labels)
            rows.append((instance.group(1) if instance else labels, float(match.group("value"))))
    return rows


def summary(query: str, content: str) -> tuple[str, str | None]:
    """A finding from a query_metrics result, and a next step when it shows a problem."""
    check = _BY_QUERY.get(query)
    rows = _series(content)
    if not rows:
        return f"Prometheus (`{query}`): no series matched.", None
    if check is None:
        top = ", ".join(f"{where} {value:g}" for where, value in rows[:3])
        return f"Prometheus `{query}`: {len(rows)} series; {top}.", None
    worst_where, worst = (max if check.worst == "highest" else min)(rows, key=lambda r: r[1])
    if check.query == "up":
        down = [where for where, value in rows if value < 1]
        if not down:
            every = (
                "the 1 scrape target is"
                if len(rows) == 1
                else f"all {len(rows)} scrape targets are"
            )
            return f"**Targets** (Prometheus `up`): {every} up.", None
        return (
            f"**Targets** (Prometheus `up`): **{len(down)} of {len(rows)} down**: "
            f"{', '.join(down[:5])}.",
            "Check the exporters on the hosts that are down (is the host reachable?).",
        )
    bad = worst > check.limit if check.worst == "highest" else worst < check.limit
    where = f"{worst_where} ({len(rows)} series)" if len(rows) > 1 else worst_where
    figure = f"{worst:.1f}{check.unit}"
    head = f"**{check.topic[0].upper()}{check.topic[1:]}** (Prometheus): {check.worst} is"
    if not bad:
        return f"{head} {figure} on {where} — normal (limit {check.limit:g}{check.unit}).", None
    step = {
        "CPU busy": f"Find what uses the CPU on {worst_where} (processes by CPU there).",
        "memory available": f"Find what holds the memory on {worst_where}; check for OOM kills.",
        "disk used": f"Free space on {worst_where} before it fills.",
    }.get(check.topic)
    return (
        f"{head} **{figure} on {where}** — past the {check.limit:g}{check.unit} limit.",
        step,
    )
