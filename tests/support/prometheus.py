"""A real Prometheus scraping a real node exporter, both on free loopback ports with temp
data dirs, for the query_metrics tests (Debian packages prometheus, prometheus-node-exporter)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import system_packages

SCRAPE_INTERVAL = "1s"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def query(url: str, promql: str) -> list[dict]:
    address = f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(address, timeout=5) as response:
        return json.load(response)["data"]["result"]


def _wait_until(ready, process: subprocess.Popen, what: str, deadline_s: float = 90) -> None:
    """Poll `ready()` until it holds; fail at once if the process died (no fixed sleep)."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {deadline_s}s")


@contextmanager
def prometheus_with_node_exporter(folder: Path) -> Iterator[str]:
    """Yields Prometheus's URL once it holds two scrapes of the exporter (rate() works)."""
    prometheus = system_packages.require("prometheus")
    exporter = system_packages.require("prometheus-node-exporter")
    exporter_port, prometheus_port = free_port(), free_port()
    config = folder / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  evaluation_interval: {SCRAPE_INTERVAL}\n"
        "scrape_configs:\n  - job_name: node\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    log = (folder / "servers.log").open("w")
    node = subprocess.Popen(
        [
            exporter,
            f"--web.listen-address=127.0.0.1:{exporter_port}",
            "--collector.disable-defaults",
            "--collector.cpu",
            "--collector.meminfo",
            "--collector.loadavg",
            "--collector.filesystem",
        ],
        stdout=log,
        stderr=log,
    )
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{prometheus_port}"
    try:
        _wait_until(
            lambda: any(float(r["value"][1]) >= 2 for r in query(url, "count_over_time(up[1m])")),
            server,
            "prometheus",
        )
        yield url
    finally:
        for process in (server, node):
            process.terminate()
        for process in (server, node):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
