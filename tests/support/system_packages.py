"""The Debian packages some tests need (sandbox, PostgreSQL, Prometheus, a browser).

`pip install -e ".[dev]" && pytest` must pass on a fresh machine, so the test session
installs what is missing before the first test runs (`ensure_installed`, called from
`tests/conftest.py`): only as root, only where `apt-get` exists, and never when
`OPSCOPILOT_TESTS_NO_APT` is set. Elsewhere a test that needs a missing program is skipped
with a reason that names the package (`require`).
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# program -> Debian package that provides it
PACKAGES: dict[str, str] = {
    "bwrap": "bubblewrap",
    "initdb": "postgresql",
    "prometheus": "prometheus",
    "prometheus-node-exporter": "prometheus-node-exporter",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
}
_POSTGRES_GLOB = "/usr/lib/postgresql/*/bin/"


def find(program: str) -> str | None:
    """The path of `program`, looking in PostgreSQL's versioned bin folder too."""
    found = shutil.which(program)
    if found:
        return found
    for folder in sorted(glob.glob(_POSTGRES_GLOB), reverse=True):
        candidate = Path(folder) / program
        if candidate.exists():
            return str(candidate)
    return None


def missing() -> list[str]:
    return sorted({package for program, package in PACKAGES.items() if find(program) is None})


def ensure_installed() -> str | None:
    """Install the missing packages once (as root, with apt-get); a line saying why not."""
    needed = missing()
    if not needed:
        return None
    if os.environ.get("OPSCOPILOT_TESTS_NO_APT"):
        return f"not installing {', '.join(needed)}: OPSCOPILOT_TESTS_NO_APT is set"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"missing {', '.join(needed)} (install them with apt-get as root)"
    lock_path = Path(tempfile.gettempdir()) / "opscopilot-tests-apt.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several xdist workers or sessions: one installs
        needed = missing()
        if not needed:
            return None
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        result = subprocess.run(
            ["apt-get", "install", "-y", "-qq", *needed],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            return f"apt-get install {' '.join(needed)} failed: {result.stderr.strip()[-300:]}"
    return None


def require(program: str) -> str:
    """The path of `program`, or skip the test naming the Debian package to install."""
    path = find(program)
    if path is None:
        pytest.skip(
            f"{program} not found: install the Debian package {PACKAGES.get(program, program)}"
        )
    return path
