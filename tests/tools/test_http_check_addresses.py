"""http_check judges the address it connects to: every spelling, every resolved address, once."""

from __future__ import annotations

import ipaddress
import socket

import anyio
import pytest

from opscopilot.tools import ToolRegistry, addresses, classify
from opscopilot.tools.addresses import host_problem, parse_host
from tests.support.wire_server import Reply, WireServer

TOOL = ToolRegistry.builtin().get("http_check")


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("169.254.169.254", "169.254.169.254"),
        ("169.254.169.254.", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("0XA9FEA9FE", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("169.16689662", "169.254.169.254"),
        ("[::ffff:169.254.169.254]", "169.254.169.254"),
        ("[::ffff:a9fe:a9fe]", "169.254.169.254"),
        ("[64:ff9b::a9fe:a9fe]", "169.254.169.254"),
        ("[::169.254.169.254]", "169.254.169.254"),
        ("[fe80::1%eth0]", "fe80::1"),
        ("127.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
    ],
)
def test_every_spelling_of_an_address_parses_as_inet_aton_would(spelling: str, address) -> None:
    parsed = parse_host(spelling)
    assert (str(parsed) if parsed else None) == address


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254./",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://0251.0376.0251.0376/",
        "http://[::ffff:169.254.169.254]/",
        "http://169.254.170.2/v2/credentials",
        "http://metadata.google.internal./computeMetadata/v1/",
        "http://METADATA.GOOGLE.INTERNAL/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://[fe80::1]/",
        "http://169.254.10.10/",
        "http://127.0.0.1:2375/containers/json",
        "http://localhost:10250/pods",
        "http://[::1]:2379/",
        "http://0.0.0.0:8080/",
        "http://224.0.0.1/",
    ],
)
def test_metadata_link_local_and_admin_addresses_ask(url: str) -> None:
    classification = classify("http_check", {"url": url})
    assert classification.risk == "write", classification.reason


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/health",
        "http://localhost/",
        "https://example.com/",
        "http://10.0.0.5:9100/metrics",
    ],
)
def test_ordinary_probes_stay_read_and_are_network_reads(url: str) -> None:
    classification = classify("http_check", {"url": url})
    assert (classification.risk, classification.network) == ("read", True)


def _run(arguments: dict, approved: bool = False):
    return anyio.run(lambda: TOOL.run(arguments, approved_shell=approved))


def lookups(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]] | None = None
) -> list[str]:
    """Record every name resolved; `answers` stands in for DNS names this host cannot resolve."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        seen.append(host)
        if answers and host in answers:
            queue = answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen


def test_it_resolves_once_and_connects_to_the_address_it_judged(
    wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(wire_server.url.rsplit(":", 1)[1])
    wire_server.expect("/health", Reply(200, b"ok", content_type="text/plain"))
    # A rebinding name: the first answer is loopback, any later one the metadata address.
    seen = lookups(monkeypatch, {"rebind.test": ["127.0.0.1", "169.254.169.254"]})
    result = _run({"url": f"http://rebind.test:{port}/health"})
    assert result.status == "ok", result.content
    assert seen == ["rebind.test"]  # one lookup: httpx connected to the judged address
    (request,) = wire_server.requests_to("/health")
    assert request.headers["host"] == f"rebind.test:{port}"


def test_a_name_that_resolves_to_metadata_is_not_probed_without_approval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups(monkeypatch, {"innocent.test": ["169.254.169.254"]})
    assert classify("http_check", {"url": "http://innocent.test/"}).risk == "read"
    result = _run({"url": "http://innocent.test/latest/meta-data/"})
    assert result.status == "error"
    assert "169.254.169.254" in result.content and "approval" in result.content


def test_every_resolved_address_is_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        seen.append(host)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    result = _run({"url": "http://two.test/"})
    assert result.status == "error" and "fe80::1" in result.content


def test_a_loopback_admin_port_is_refused_at_run_time_too_unless_approved(
    wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(wire_server.url.rsplit(":", 1)[1])
    monkeypatch.setattr(addresses, "LOOPBACK_ADMIN_PORTS", frozenset({port}))
    wire_server.expect("/version", Reply(200, b"{}", content_type="application/json"))
    url = f"http://localhost:{port}/version"
    assert classify("http_check", {"url": url}).risk == "write"
    refused = _run({"url": url})
    assert refused.status == "error" and "admin" in refused.content
    assert wire_server.requests == []
    approved = _run({"url": url}, approved=True)  # the operator said yes: it connects
    assert approved.status == "ok", approved.content
    assert len(wire_server.requests_to("/version")) == 1


def test_ipv6_loopback_is_reached_by_its_literal() -> None:
    server = socket.socket(socket.AF_INET6)
    try:
        server.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server.close()
    assert host_problem("[::1]", 8080) is None
    assert ipaddress.ip_address("::1").is_loopback
