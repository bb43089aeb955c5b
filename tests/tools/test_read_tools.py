"""read_file, tail_log, http_check (against the loopback wire server) and system_info, for real."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import anyio
import pytest

from opscopilot.tools import ToolError, ToolRegistry
from tests.support.wire_server import Reply, WireServer

TOOLS = ToolRegistry.builtin()


def run(name: str, arguments: dict):
    return anyio.run(lambda: TOOLS.get(name).run(arguments))


def test_read_file_reads_a_text_file_up_to_its_cap(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("x" * 100)
    assert run("read_file", {"path": str(path)}).content == "x" * 100
    capped = run("read_file", {"path": str(path), "max_bytes": 10})
    assert capped.truncated and capped.content.startswith("x" * 10 + "\n[truncated")


@pytest.mark.parametrize("target", ["/proc/kcore", "/dev/zero", "/dev/mem", "/proc/self/mem"])
def test_read_file_refuses_devices_and_kernel_memory(target: str) -> None:
    result = run("read_file", {"path": target})
    assert result.status == "error"


def test_read_file_refuses_directories_fifos_and_binaries(tmp_path: Path) -> None:
    assert "not a regular file" in run("read_file", {"path": str(tmp_path)}).content
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert run("read_file", {"path": str(fifo)}).status == "error"  # and it did not hang
    binary = tmp_path / "blob"
    binary.write_bytes(b"\x00\x01\x02" * 10)
    assert "binary file" in run("read_file", {"path": str(binary)}).content
    assert "no such file" in run("read_file", {"path": str(tmp_path / "nope")}).content


def test_read_file_redacts_secrets_in_what_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    path.write_text("token = ghp_abcdefghijklmnopqrstuvwxyz0123\n")
    assert "ghp_abcdefghij" not in run("read_file", {"path": str(path)}).content


def test_read_file_reads_proc_files_that_report_no_size() -> None:
    result = run("read_file", {"path": "/proc/meminfo"})
    assert result.status == "ok" and "MemTotal" in result.content


def test_tail_log_reads_the_last_lines_of_a_large_file_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    with path.open("w") as handle:
        for i in range(200_000):
            handle.write(f"line {i}\n")
    result = run("tail_log", {"path": str(path), "lines": 3})
    assert result.content == "line 199997\nline 199998\nline 199999"
    assert result.data == {"lines": 3, "size": path.stat().st_size}


def test_tail_log_validates_its_source() -> None:
    tool = TOOLS.get("tail_log")
    for bad in ({}, {"path": "/x", "unit": "nginx"}, {"unit": "--rotate"}, {"unit": "a b"}):
        with pytest.raises(ToolError) as caught:
            tool.validate(bad)
        assert caught.value.kind == "invalid_arguments"


def test_tail_log_of_a_unit_runs_journalctl_as_argv() -> None:
    assert TOOLS.get("tail_log").journal_argv("nginx.service", 20) == [
        "journalctl",
        "-u",
        "nginx.service",
        "-n",
        "20",
        "--no-pager",
    ]
    result = run("tail_log", {"unit": "opscopilot-test-unit", "lines": 5})
    if shutil.which("journalctl") is None:
        assert result.content == "command not found: journalctl"
    else:
        assert result.status in ("ok", "error")


def test_http_check_reports_status_latency_headers_and_body(wire_server: WireServer) -> None:
    wire_server.expect(
        "/health",
        Reply(
            200,
            b'{"ok": true}',
            content_type="application/json",
            headers={"X-Request-Id": "abc123"},
        ),
    )
    result = run("http_check", {"url": f"{wire_server.url}/health", "expect_status": 200})
    assert result.status == "ok"
    assert "-> 200 OK in" in result.content and "(as expected)" in result.content
    assert "content-type: application/json" in result.content
    assert "x-request-id: abc123" in result.content and '{"ok": true}' in result.content
    assert result.data["status"] == 200 and result.data["latency_ms"] >= 0
    assert wire_server.requests_to("/health")[0].method == "GET"


def test_http_check_flags_unhealthy_status_and_keeps_only_an_excerpt(
    wire_server: WireServer,
) -> None:
    wire_server.expect("/big", Reply(503, b"e" * 100_000, content_type="text/plain"))
    result = run("http_check", {"url": f"{wire_server.url}/big"})
    assert result.status == "error" and "-> 503" in result.content
    assert result.truncated and len(result.content) < 4000


def test_http_check_does_not_follow_redirects(wire_server: WireServer) -> None:
    wire_server.expect("/old", Reply(302, b"", headers={"Location": "file:///etc/passwd"}))
    result = run("http_check", {"url": f"{wire_server.url}/old"})
    assert "-> 302" in result.content and "location: file:///etc/passwd" in result.content
    assert "root:" not in result.content


def test_http_check_sends_the_method_it_was_given(wire_server: WireServer) -> None:
    wire_server.expect("/purge", Reply(200, b"done"))
    assert run("http_check", {"url": f"{wire_server.url}/purge", "method": "delete"}).status == "ok"
    assert wire_server.requests_to("/purge")[0].method == "DELETE"


def test_http_check_connection_refused_and_timeouts_are_results(wire_server: WireServer) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = run("http_check", {"url": f"http://127.0.0.1:{port}/"})
    assert refused.status == "error"
    wire_server.expect("/slow", Reply(200, b"late" * 10, delay_s=0.5, pieces=(4, 4)))
    slow = run("http_check", {"url": f"{wire_server.url}/slow", "timeout_s": 0.2})
    assert slow.status == "timeout"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://x/", "gopher://x", "localhost:80", "http://"]
)
def test_http_check_accepts_only_http_urls(url: str) -> None:
    with pytest.raises(ToolError):
        TOOLS.get("http_check").validate({"url": url})


def test_system_info_returns_real_figures() -> None:
    result = run("system_info", {"top": 3})
    assert result.status == "ok"
    data = result.data
    assert data["cores"] == os.cpu_count()
    assert len(data["load"]) == 3 and all(x >= 0 for x in data["load"])
    with open("/proc/meminfo") as handle:
        total_kib = int(handle.readline().split()[1])
    assert data["memory"]["total"] == total_kib * 1024
    assert 0 < data["memory"]["available"] <= data["memory"]["total"]
    root = next(d for d in data["disks"] if d["mount"] == "/")
    statvfs = os.statvfs("/")
    assert root["total"] == statvfs.f_blocks * statvfs.f_frsize
    assert len(data["processes"]["by_memory"]) == 3
    assert (
        os.getpid() in {p["pid"] for p in data["processes"]["by_memory"]}
        or data["processes"]["count"] > 3
    )
    assert "load " in result.content and "disks:" in result.content
