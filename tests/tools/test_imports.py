"""The tools layer works without Textual and keeps httpx out of its import."""

from __future__ import annotations

import subprocess
import sys


def test_tools_import_without_textual_or_httpx() -> None:
    code = (
        "import sys, opscopilot.tools; "
        "print(sorted(m for m in ('textual', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
