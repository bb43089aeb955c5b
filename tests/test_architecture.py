"""The layering of DESIGN.md, checked mechanically (as Harlequin does with import-linter)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import opscopilot

HEAVY_FOR_STARTUP = ("textual", "httpx", "openai", "anthropic", "litellm", "rich.markdown")


def _modules_outside_tui() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(opscopilot.__path__, "opscopilot."):
        if info.name.startswith("opscopilot.tui") or info.name == "opscopilot.__main__":
            continue
        names.append(info.name)
    return names


def test_nothing_outside_the_tui_imports_textual():
    modules = _modules_outside_tui()
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(leaked))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"Textual imported by the core: {result.stdout}"


def test_the_cli_entry_point_defers_heavy_imports():
    code = (
        "import sys, opscopilot.cli.main\n"
        f"print(','.join(m for m in {HEAVY_FOR_STARTUP!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_help_and_version_answer_without_loading_providers_or_textual():
    code = (
        "import sys\n"
        "from opscopilot.cli.main import cli\n"
        "try:\n"
        "    cli.main(['--help'], prog_name='opscopilot', standalone_mode=False)\n"
        "finally:\n"
        f"    print('LOADED:' + ','.join(m for m in {HEAVY_FOR_STARTUP!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage: opscopilot" in result.stdout
    assert result.stdout.strip().endswith("LOADED:")
