"""`[mcp_servers.NAME]` parsing, names, risks and the policy for untrusted servers (no I/O)."""

from __future__ import annotations

import pytest

from opscopilot.mcp.config import McpConfigError, parse_server, servers_from_config
from opscopilot.mcp.connection import ListedTool
from opscopilot.mcp.listing_cache import ListingCache
from opscopilot.mcp.tool import McpTool, model_name, risk_of
from opscopilot.redact import redact
from opscopilot.tools import ToolError, decide


def _listed(name: str = "pods_list", read_only=None, destructive=None) -> ListedTool:
    schema = {"type": "object", "properties": {"ns": {"type": "string"}}, "required": ["ns"]}
    return ListedTool(name, "List pods", schema, read_only, destructive)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({}, "needs either command"),
        ({"command": ["x"], "url": "http://127.0.0.1/mcp"}, "needs either command"),
        ({"command": "kubectl-mcp"}, "list of strings"),
        ({"command": []}, "must name a program"),
        ({"url": "ftp://host"}, "http(s) URL"),
        ({"url": "http://127.0.0.1/mcp", "env": {"A": "b"}}, "env is for command servers"),
        ({"command": ["x"], "headers": {"A": "b"}}, "headers are for url servers"),
        ({"command": ["x"], "risk": {"rm": "scary"}}, "risk.rm must be one of"),
        ({"command": ["x"], "trusted": "yes"}, "true or false"),
        ({"command": ["x"], "timeout_s": 0}, "number of seconds"),
        ({"command": ["x"], "colour": "blue"}, "unknown key 'colour'"),
    ],
)
def test_a_bad_server_table_is_one_readable_line(table, problem) -> None:
    with pytest.raises(McpConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_server("k8s", table)


def test_server_names_must_make_clean_tool_names() -> None:
    for bad in ("a__b", "has space", "-dash", "x" * 33):
        with pytest.raises(McpConfigError):
            parse_server(bad, {"command": ["x"]})
    assert model_name("k8s", "pods.list/all") == "k8s__pods_list_all"
    assert len(model_name("k8s", "t" * 100)) == 64


def test_stdio_servers_are_trusted_by_default_url_servers_are_not() -> None:
    servers = servers_from_config(
        {
            "mcp_servers": {
                "local": {"command": ["mcp-server-time"]},
                "remote": {"url": "https://grafana.example/mcp"},
                "vouched": {"url": "https://grafana.example/mcp", "trusted": True},
                "doubted": {"command": ["x"], "trusted": False},
            }
        }
    )
    assert [(s.name, s.trusted) for s in servers] == [
        ("local", True),
        ("remote", False),
        ("vouched", True),
        ("doubted", False),
    ]


def test_risk_comes_from_annotations_unless_the_operator_overrides_it() -> None:
    server = parse_server("k8s", {"command": ["x"], "risk": {"pods_exec": "destructive"}})
    assert risk_of(server, _listed(read_only=True))[0] == "read"
    assert risk_of(server, _listed(destructive=True))[0] == "destructive"
    assert risk_of(server, _listed(read_only=False, destructive=False))[0] == "write"
    assert risk_of(server, _listed())[0] == "write"  # no annotations: never read
    assert risk_of(server, _listed("pods_exec", read_only=True))[0] == "destructive"
    doubting = parse_server("k8s", {"command": ["x"], "trust_annotations": False})
    assert risk_of(doubting, _listed(read_only=True))[0] == "write"
    relaxed = parse_server(
        "k8s", {"command": ["x"], "trust_annotations": False, "risk": {"pods_list": "read"}}
    )
    assert risk_of(relaxed, _listed(read_only=True))[0] == "read"


def test_a_read_only_tool_of_an_untrusted_server_asks_and_read_only_mode_denies_it() -> None:
    trusted = McpTool(None, parse_server("a", {"command": ["x"]}), _listed(read_only=True))  # type: ignore[arg-type]
    untrusted = McpTool(
        None,  # type: ignore[arg-type]
        parse_server("b", {"url": "https://mcp.example/mcp"}),
        _listed(read_only=True),
    )
    assert decide(trusted.classify({"ns": "x"}), "ask").action == "run"
    assert decide(trusted.classify({"ns": "x"}), "read-only").action == "run"
    asked = decide(untrusted.classify({"ns": "x"}), "ask")
    assert asked.action == "ask" and "not a trusted server" in asked.reason
    assert decide(untrusted.classify({"ns": "x"}), "read-only").action == "deny"
    assert decide(untrusted.classify({"ns": "x"}), "all").action == "run"


def test_arguments_are_checked_against_the_servers_schema() -> None:
    tool = McpTool(None, parse_server("k8s", {"command": ["x"]}), _listed(read_only=True))  # type: ignore[arg-type]
    assert tool.validate({"ns": "default"}).root == {"ns": "default"}
    with pytest.raises(ToolError, match="'ns' is a required property"):
        tool.validate({})
    with pytest.raises(ToolError, match="ns: 3 is not of type 'string'"):
        tool.validate({"ns": 3})
    spec = tool.spec()
    assert spec.name == "k8s__pods_list" and spec.parameters["required"] == ["ns"]
    assert spec.description.startswith("[k8s MCP server]")


def test_variables_expand_and_header_and_secret_env_values_are_redacted(monkeypatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_abcdefghijklmnop1234")
    server = parse_server(
        "grafana",
        {
            "url": "https://${GRAFANA_HOST}/mcp",
            "headers": {"Authorization": "Bearer ${GRAFANA_TOKEN}"},
        },
    )
    with pytest.raises(McpConfigError, match=r"\$\{GRAFANA_HOST\} is not set"):
        server.expanded_url()
    assert server.expanded_headers() == {"Authorization": "Bearer glsa_abcdefghijklmnop1234"}
    assert "glsa_abcdefghijklmnop1234" not in redact("the token glsa_abcdefghijklmnop1234 leaked")
    local = parse_server(
        "k8s", {"command": ["x"], "env": {"K8S_TOKEN": "kube-secret-value-99", "NS": "prod-east"}}
    )
    assert local.expanded_env() == {"K8S_TOKEN": "kube-secret-value-99", "NS": "prod-east"}
    assert "kube-secret-value-99" not in redact("kube-secret-value-99")
    assert redact("prod-east") == "prod-east"  # not every value is a secret


def test_the_listing_cache_is_keyed_by_the_servers_config(tmp_path) -> None:
    server = parse_server("k8s", {"command": ["x"]})
    cache = ListingCache(tmp_path)
    assert cache.get(server) is None
    cache.put(server, [_listed(read_only=True)])
    assert ListingCache(tmp_path).get(server) == [_listed(read_only=True)]
    changed = parse_server("k8s", {"command": ["y"]})
    assert ListingCache(tmp_path).get(changed) is None
    (tmp_path / "mcp-tools.json").write_text("{not json")
    assert ListingCache(tmp_path).get(server) is None
