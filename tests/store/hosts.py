"""Hosts of a team store for the tests: processes in network namespaces of their own.

A "host" here is a process started through bubblewrap with a new network namespace (only its
own loopback: the test's loopback servers and PostgreSQL's TCP port are out of its reach) and
a new UTS namespace (a hostname of its own, which batch claims and decisions record). It
reaches the test's PostgreSQL server through the server's Unix socket directory, shared
through the filesystem (`socket_url`), as a host on a team reaches its store over the network.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from urllib.parse import urlsplit

from tests.support.postgres_server import USER, PostgresServer


def socket_url(server: PostgresServer, tcp_url: str) -> str:
    """The same database as `tcp_url`, through the server's Unix socket (local: no password)."""
    database = urlsplit(tcp_url).path.lstrip("/")
    return f"postgresql://{USER}@/{database}?host={server.root}&port={server.port}"


@functools.cache
def unavailable() -> str | None:
    """Why namespaced hosts cannot run here (None: they can)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap, Debian package bubblewrap) is not installed"
    probe = subprocess.run(
        [*_bwrap(bwrap, "probe"), "true"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"this machine refuses new network/UTS namespaces: {probe.stderr.strip()[:200]}"
    return None


def namespaced(hostname: str) -> list[str]:
    """The command prefix that runs a program as host `hostname` (call `unavailable` first)."""
    bwrap = shutil.which("bwrap")
    assert bwrap is not None and unavailable() is None
    return _bwrap(bwrap, hostname)


def _bwrap(bwrap: str, hostname: str) -> list[str]:
    return [
        bwrap,
        "--unshare-net",
        "--unshare-uts",
        "--hostname",
        hostname,
        "--bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--die-with-parent",
        "--",
    ]  # fmt: skip
