"""The layering of DESIGN.md, checked mechanically (as Harlequin does with import-linter)."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys

import pytest

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
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"Textual imported by the core: {result.stdout}"


def test_the_cli_entry_point_defers_heavy_imports():
    code = (
        "import sys, opscopilot.cli.main\n"
        f"print(','.join(m for m in {HEAVY_FOR_STARTUP!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
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
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "Usage: opscopilot" in result.stdout
    assert result.stdout.strip().endswith("LOADED:")


# What `opscopilot prompt` must not have loaded when its request leaves (it should leave
# < 250 ms after start; see benchmarks/bench_cold_start.py): other adapters (the builtin
# planner's regexes), the store facade and event vocabulary, sqlite-utils (the ledger uses
# plain sqlite3), httpx's CLI (rich, pygments), HTTP/2, and what sqlite-utils or httpcore
# would pull in when installed.
NOT_BEFORE_THE_REQUEST = (
    "opscopilot.llm.providers.builtin",
    "opscopilot.llm.providers.builtin_planner",
    "opscopilot.llm.providers.anthropic",
    "opscopilot.llm.providers.gemini",
    "opscopilot.llm.providers.ollama",
    "opscopilot.events",
    "opscopilot.store.store",
    "opscopilot.store.records",
    "opscopilot.runtime",
    "sqlite_utils",
    "httpx._main",
    "rich",
    "pygments",
    "h2",
    "textual",
    "numpy",
    "pandas",
    "trio",
    "mcp",
    "mcp_types",
    "opscopilot.mcp",
)

_AT_FIRST_CONNECT = """
import json, sys

def report(event, args):
    if event == "socket.connect" and not getattr(report, "done", False):
        report.done = True
        loaded = [name for name, module in sys.modules.items() if module is not None]
        sys.stderr.write("LOADED " + json.dumps(loaded) + "\\n")

sys.addaudithook(report)
sys.argv = ["opscopilot", "prompt", "hi", "--model", MODEL]
from opscopilot.cli.main import main
main()
"""


@pytest.mark.parametrize("model", ["openai:bench", "openai:gpt-4o-mini"])
def test_prompt_sends_its_request_before_loading_what_it_does_not_need(wire_server, model):
    from tests.llm.test_openai import text_stream
    from tests.support.wire_server import Reply

    wire_server.expect("/v1/chat/completions", Reply(body=text_stream("Hello")))
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{wire_server.url}/v1",
        "OPENAI_API_KEY": "sk-test-architecture-0000",
    }
    code = _AT_FIRST_CONNECT.replace("MODEL", repr(model))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Hello" in result.stdout
    line = next(x for x in result.stderr.splitlines() if x.startswith("LOADED "))
    loaded = set(json.loads(line.removeprefix("LOADED ")))
    # The hook fired at the request's connect: what sends it is loaded, the rest is not.
    assert {"opscopilot.llm.providers.openai", "httpx", "httpcore"} <= loaded
    early = [
        banned
        for banned in NOT_BEFORE_THE_REQUEST
        if any(name == banned or name.startswith(banned + ".") for name in loaded)
    ]
    assert early == [], f"loaded before prompt's request left: {early}"


_TURN_THEN_REPORT = """
import sys
sys.argv = ["opscopilot", "run", "how full is the disk?", "--model", "builtin:ops"]
from opscopilot.cli.main import main
try:
    main()
except SystemExit as done:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("mcp", "mcp_types"))
    sys.stderr.write("EXIT %s MCP %s\\n" % (done.code, ",".join(loaded)))
"""


def test_a_turn_with_no_mcp_server_configured_never_loads_the_mcp_sdk(tmp_path):
    env = {**os.environ, "OPSCOPILOT_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", _TURN_THEN_REPORT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "EXIT 0 MCP \n" in result.stderr, result.stderr[-2000:]
