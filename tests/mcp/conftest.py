from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from .support import OPS_SERVER

HTTP_TOKEN = "ops-http-token-4f8a2c91d7e3"


@pytest.fixture(scope="session")
def http_ops_server() -> Iterator[str]:
    """The test server over streamable HTTP on a loopback port, wanting a bearer token."""
    env = {**os.environ, "OPS_SERVER_TOKEN": HTTP_TOKEN}
    process = subprocess.Popen(
        [sys.executable, OPS_SERVER, "--http"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())  # printed once the socket is bound
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)
