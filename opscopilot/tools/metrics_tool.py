"""query_metrics: PromQL against the operator's Prometheus (`[prometheus] url`), summarised.

Instant queries (`/api/v1/query`) and range queries (`/api/v1/query_range`, when `minutes`
is given). The model gets a summary, never the raw matrix: the series count, then per
series its labels and value (instant) or last/min/max over the range, largest first,
capped. The address is the operator's, from config; the model only writes the query, and
a query only reads.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from opscopilot.redact import redact, register_secret
from opscopilot.tools.base import Classification, OutputCallback, Tool, ToolResult
from opscopilot.tools.errors import ToolError

MAX_SERIES_SHOWN = 20
MAX_POINTS = 240  # a range query never asks for more points per series than this
_DEFAULT_TIMEOUT_S = 10.0


class QueryMetricsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000, description="A PromQL expression.")
    minutes: int | None = Field(
        None,
        ge=1,
        le=7 * 24 * 60,
        description="Look back this many minutes (a range query); omit for the current value.",
    )
    step_s: int | None = Field(
        None, ge=1, le=86400, description="Seconds between points of a range query."
    )


class QueryMetricsTool(Tool):
    name = "query_metrics"
    description = (
        "Query the metrics in Prometheus with PromQL: the current value of each series, or "
        "with `minutes` its last, min and max over that window. Examples: "
        '`100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))` '
        "(CPU busy %), `node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100`, "
        "`up`."
    )
    args_model = QueryMetricsArgs
    in_process = True  # an HTTP request from opscopilot itself: no program to sandbox

    def __init__(self, url: str, token: str | None = None, timeout_s: float = _DEFAULT_TIMEOUT_S):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        register_secret(token)

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> QueryMetricsTool:
        """`[prometheus]`: url, optional bearer_token_env (the variable holding a token),
        optional timeout_s; a problem is ToolError("bad_config")."""
        url = section.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ToolError("bad_config", "[prometheus] url must be an http(s) URL")
        token = None
        variable = section.get("bearer_token_env")
        if variable is not None:
            if not isinstance(variable, str) or not variable:
                raise ToolError("bad_config", "[prometheus] bearer_token_env must name a variable")
            token = os.environ.get(variable) or None
        timeout = section.get("timeout_s", _DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ToolError("bad_config", "[prometheus] timeout_s must be a positive number")
        return cls(url, token, float(timeout))

    def classify(self, arguments: dict[str, Any]) -> Classification:
        from opscopilot.tools.addresses import host_problem

        # The address is the operator's (config), judged like http_check's all the same; its
        # port is not (the model picks no path: only /api/v1/query*, never an admin API).
        host = urlsplit(self.url).hostname or ""
        subjects = (self.name, f"{self.name} {arguments.get('query', '')}")
        problem = host_problem(host, None)
        if problem:
            return Classification("write", problem, tool=self.name, subjects=subjects)
        return Classification(
            "read",
            f"a PromQL query reads metrics from {host}",
            tool=self.name,
            subjects=subjects,
            network=True,
        )

    async def run(
        self,
        args: BaseModel | dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
        approved_shell: bool = False,
    ) -> ToolResult:
        import httpx

        parsed = self.validate(args)
        assert isinstance(parsed, QueryMetricsArgs)
        started = time.monotonic()
        params: dict[str, Any] = {"query": parsed.query}
        path = "/api/v1/query"
        if parsed.minutes:
            end = time.time()
            step = parsed.step_s or max(15, math.ceil(parsed.minutes * 60 / MAX_POINTS))
            step = max(step, math.ceil(parsed.minutes * 60 / MAX_POINTS))
            params.update(start=end - parsed.minutes * 60, end=end, step=step)
            path = "/api/v1/query_range"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}

        def done(status: str, content: str, data: dict[str, Any] | None = None) -> ToolResult:
            return ToolResult(
                status=status,  # type: ignore[arg-type]
                content=redact(content),
                duration_s=round(time.monotonic() - started, 3),
                data=data,
            )

        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as client:
                response = await client.get(self.url + path, params=params, headers=headers)
        except httpx.TimeoutException:
            return done(
                "timeout", f"Prometheus at {self.url}: no answer within {self.timeout_s:g}s"
            )
        except httpx.HTTPError as exc:
            return done("error", f"Prometheus at {self.url}: {exc or type(exc).__name__}")
        try:
            body = response.json()
        except ValueError:
            return done("error", f"Prometheus at {self.url}: HTTP {response.status_code}, not JSON")
        if body.get("status") != "success":
            kind = body.get("errorType") or f"HTTP {response.status_code}"
            return done("error", f"PromQL {kind}: {body.get('error') or 'no detail'}")
        data = body.get("data") or {}
        series = summarise_series(data)
        return done("ok", render(parsed, data.get("resultType", ""), series), {"series": series})


def _labels(metric: Mapping[str, str]) -> str:
    name = metric.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def summarise_series(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each series as labels + last/min/max/points (instant: one point), largest last first."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind in ("scalar", "string"):
        return [{"labels": {}, "last": _number(result[1]), "min": None, "max": None, "points": 1}]
    rows = []
    for item in result or []:
        metric = item.get("metric") or {}
        samples = item.get("values") or ([item["value"]] if "value" in item else [])
        values = [v for v in (_number(s[1]) for s in samples) if v is not None]
        rows.append(
            {
                "labels": dict(metric),
                "last": values[-1] if values else None,
                "min": min(values) if values else None,
                "max": max(values) if values else None,
                "points": len(values),
            }
        )
    rows.sort(key=lambda r: -math.inf if r["last"] is None else r["last"], reverse=True)
    return rows


def _figure(value: float | None) -> str:
    if value is None:
        return "no value"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.4e}"


def render(args: QueryMetricsArgs, kind: str, series: list[dict[str, Any]]) -> str:
    window = f"over the last {args.minutes} min" if args.minutes else "now"
    lines = [f"PromQL {args.query}", f"{len(series)} series ({kind or 'no data'}, {window})"]
    for row in series[:MAX_SERIES_SHOWN]:
        labels = _labels(row["labels"]) or "(value)"
        if args.minutes:
            lines.append(
                f"- {labels}: last {_figure(row['last'])}, min {_figure(row['min'])}, "
                f"max {_figure(row['max'])} ({row['points']} points)"
            )
        else:
            lines.append(f"- {labels}: {_figure(row['last'])}")
    if len(series) > MAX_SERIES_SHOWN:
        lines.append(f"… and {len(series) - MAX_SERIES_SHOWN} more series (narrow the query)")
    if not series:
        lines.append("No series matched: check the metric name and labels (try `up`).")
    return "\n".join(lines)
