"""query_metrics against a real Prometheus scraping a real node exporter (loopback ports,
temp data dirs), and builtin:ops answering "is CPU high?" from real PromQL results."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from opscopilot.llm.providers.builtin_metrics import CHECKS
from opscopilot.tools import ToolError, ToolRegistry, decide
from opscopilot.tools.metrics_tool import QueryMetricsTool
from tests.runtime.support import cli_env, opscopilot
from tests.support.prometheus import prometheus_with_node_exporter, query

CPU = CHECKS[0].query


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prometheus_with_node_exporter(tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def _run(tool: QueryMetricsTool, **arguments):
    return anyio.run(lambda: tool.run(arguments))


def test_an_instant_query_is_summarised_per_series(prometheus: str) -> None:
    result = _run(QueryMetricsTool(prometheus), query="node_load1")
    assert result.status == "ok", result.content
    lines = result.content.splitlines()
    assert lines[0] == "PromQL node_load1" and lines[1] == "1 series (vector, now)"
    assert re.match(r'- node_load1\{instance="127\.0\.0\.1:\d+",job="node"\}: [\d.]+$', lines[2])


def test_a_range_query_gives_last_min_and_max_and_caps_the_series(prometheus: str) -> None:
    result = _run(QueryMetricsTool(prometheus), query="node_cpu_seconds_total", minutes=1, step_s=1)
    assert result.status == "ok", result.content
    assert "over the last 1 min" in result.content
    series = result.data["series"]
    assert len(series) == len(query(prometheus, "node_cpu_seconds_total"))
    assert all(row["min"] <= row["last"] <= row["max"] and row["points"] >= 1 for row in series)
    shown = [line for line in result.content.splitlines() if line.startswith("- ")]
    assert len(shown) == min(len(series), 20)
    if len(series) > 20:
        assert f"and {len(series) - 20} more series" in result.content


def test_bad_promql_and_an_unreachable_prometheus_are_one_line_errors(prometheus: str) -> None:
    bad = _run(QueryMetricsTool(prometheus), query="rate(node_load1")
    assert bad.status == "error" and bad.content.startswith("PromQL bad_data:")
    empty = _run(QueryMetricsTool(prometheus), query='up{job="nothing"}')
    assert empty.status == "ok" and "No series matched" in empty.content
    gone = _run(QueryMetricsTool("http://127.0.0.1:9"), query="up")
    assert gone.status == "error" and gone.content.startswith("Prometheus at http://127.0.0.1:9:")


def test_it_is_configured_by_the_prometheus_section_and_reads_without_a_person(monkeypatch) -> None:
    assert "query_metrics" not in ToolRegistry.default({})
    monkeypatch.setenv("PROM_TOKEN", "prom-secret-token-123456")
    registry = ToolRegistry.default(
        {"prometheus": {"url": "http://127.0.0.1:9090", "bearer_token_env": "PROM_TOKEN"}}
    )
    tool = registry.get("query_metrics")
    assert tool.token == "prom-secret-token-123456"
    assert decide(registry.classify("query_metrics", {"query": "up"}), "read-only").action == "run"
    with pytest.raises(ToolError, match=r"\[prometheus\] url"):
        ToolRegistry.default({"prometheus": {"url": "file:///etc/passwd"}})
    metadata = QueryMetricsTool("http://169.254.169.254/")
    assert metadata.classify({"query": "up"}).risk == "write"


def test_builtin_ops_answers_is_cpu_high_from_real_promql(
    prometheus: str, isolated_home: Path
) -> None:
    (isolated_home / "config.toml").write_text(f'[prometheus]\nurl = "{prometheus}"\n')
    done = opscopilot(
        "run", "is CPU high?", "--model", "builtin:ops", "--json", env=cli_env(isolated_home, None)
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    calls = {c["name"]: c for c in outcome["tool_calls"]}
    assert calls["query_metrics"]["arguments"] == {"query": CPU}
    assert calls["query_metrics"]["status"] == "ok"
    match = re.search(
        r"\*\*CPU busy\*\* \(Prometheus\): highest is \**([\d.]+)% on (127\.0\.0\.1:\d+)",
        outcome["text"],
    )
    assert match, outcome["text"]
    busy = float(match.group(1))
    assert 0 <= busy <= 100
    verdict = "past the 85% limit" if busy > 85 else "normal"
    assert verdict in outcome["text"]


def test_without_prometheus_builtin_ops_does_not_mention_metrics(isolated_home: Path) -> None:
    done = opscopilot(
        "run", "is CPU high?", "--model", "builtin:ops", "--json", env=cli_env(isolated_home, None)
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert "query_metrics" not in {c["name"] for c in outcome["tool_calls"]}
    assert "query_metrics" not in outcome["text"] and "Prometheus" not in outcome["text"]
