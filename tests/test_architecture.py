"""The layering of DESIGN.md, checked mechanically (as Harlequin does with import-linter)."""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import re
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
    "psycopg",
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


MAX_LINES = 500
_PACKAGE_ROOT = os.path.dirname(opscopilot.__file__)


def _package_imports(package: str) -> dict[str, set[str]]:
    """Each module of `package` -> the modules of the same package it imports (deferred and
    TYPE_CHECKING imports included: a circle drawn only for the type checker is still one)."""
    import ast

    folder = os.path.join(_PACKAGE_ROOT, *package.split(".")[1:])
    modules = {
        name[:-3]: os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.endswith(".py") and name != "__init__.py"
    }
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read())
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    base = node.module or ""
                    names = [base] if base else [alias.name for alias in node.names]
                elif node.module and node.module.startswith(package + "."):
                    names = [node.module.removeprefix(package + ".")]
                elif node.module == package:
                    names = [alias.name for alias in node.names]
                else:
                    continue
            elif isinstance(node, ast.Import):
                names = [
                    alias.name.removeprefix(package + ".")
                    for alias in node.names
                    if alias.name.startswith(package + ".")
                ]
            else:
                continue
            targets |= {name.split(".")[0] for name in names} & set(modules)
        graph[module] = targets - {module}
    return graph


def _a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> list[str] | None:
        if module in visiting:
            return [*visiting[visiting.index(module) :], module]
        if module in done:
            return None
        visiting.append(module)
        for target in sorted(graph[module]):
            if (cycle := visit(target)) is not None:
                return cycle
        visiting.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        if (cycle := visit(module)) is not None:
            return cycle
    return None


def test_the_runtime_imports_one_way_its_collaborators_never_import_the_facade():
    graph = _package_imports("opscopilot.runtime")
    assert {"runtime", "driver", "model_calls", "tool_calls", "toolbox"} <= set(graph)
    assert _a_cycle(graph) is None, f"import cycle in opscopilot/runtime: {_a_cycle(graph)}"
    importers = sorted(module for module, targets in graph.items() if "runtime" in targets)
    assert importers == [], f"these import runtime.py back: {importers}"


def test_the_cycle_check_sees_a_circle_drawn_only_for_the_type_checker():
    assert _a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _a_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.parametrize("where", ["runtime", "agent", os.path.join("tools", "command_policy.py")])
def test_files_of_the_runtime_agent_core_and_command_policy_stay_under_500_lines(where):
    path = os.path.join(_PACKAGE_ROOT, where)
    files = (
        [os.path.join(path, name) for name in os.listdir(path) if name.endswith(".py")]
        if os.path.isdir(path)
        else [path]
    )
    too_long = {}
    for file in files:
        with open(file, encoding="utf-8") as source:
            lines = sum(1 for _ in source)
        if lines > MAX_LINES:
            too_long[os.path.relpath(file, _PACKAGE_ROOT)] = lines
    assert too_long == {}, f"over {MAX_LINES} lines: {too_long}"


# --- no SQL outside the store package (issue 13) ------------------------------------------

_SQL_START = re.compile(
    r"^\s*\(?\s*(SELECT\b|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|"
    r"(CREATE|DROP)\s+(UNIQUE\s+)?(TABLE|INDEX|TRIGGER|FUNCTION|VIEW)\b|ALTER\s+TABLE\b|"
    r"PRAGMA\b|VACUUM\b|(LISTEN|NOTIFY)\s+\w+|WITH\s+\w+\s+AS\s*\(|(BEGIN|COMMIT|ROLLBACK)\s*$)"
)
_SQL_CLAUSE = re.compile(
    r"\b(ON\s+CONFLICT|GROUP\s+BY|ORDER\s+BY\s+\w+|FOR\s+UPDATE|SKIP\s+LOCKED|COALESCE\(|"
    r"(WHERE|AND|OR|SET)\s+\w+(\.\w+)?\s*(=|!=|<>|<=?|>=?|LIKE|IN)\s*\(?\s*(\?|\{\})|"
    r"(WHERE|AND|OR)\s+\w+(\.\w+)?\s+IS\s+(NOT\s+)?NULL)"
)
_DRIVERS = {"sqlite3", "psycopg", "psycopg_pool", "sqlite_utils"}
_CONNECTION_MODULES = {"opscopilot.store.backend", "opscopilot.store.db"}
_ERRORS_ONLY = {"DatabaseError", "IntegrityError", "StoreError"}
_STATEMENT_CALLS = {"execute", "executemany", "executescript"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def sql_outside_the_store(source: str) -> list[tuple[int, str]]:
    """(line, what) for each piece of SQL in one module's source (see the test below)."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
            for part in node.values:
                skip.add(id(part))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in skip:
                continue
            text = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _STATEMENT_CALLS
        ):
            found.append((node.lineno, f".{node.func.attr}(…)"))
            continue
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, f"import {a.name}")
                for a in node.names
                if a.name.split(".")[0] in _DRIVERS
            ]
            continue
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in _DRIVERS:
                found.append((node.lineno, f"from {node.module} import …"))
            elif node.module in _CONNECTION_MODULES:
                found += [
                    (node.lineno, f"from {node.module} import {a.name}")
                    for a in node.names
                    if a.name not in _ERRORS_ONLY
                ]
            elif node.module == "opscopilot.store":
                found += [
                    (node.lineno, f"from opscopilot.store import {a.name}")
                    for a in node.names
                    if a.name in ("db", "backend")
                ]
            continue
        else:
            continue
        if _SQL_START.search(text) or _SQL_CLAUSE.search(text):
            found.append((node.lineno, " ".join(text.split())[:60]))
    return found


def test_no_sql_is_written_outside_the_store_package():
    """Every SQL statement lives in opscopilot/store/ (issue 13); the layers above call it.

    What counts, in every module of opscopilot/ outside opscopilot/store/:
    - a string (or f-string) that starts like a statement (SELECT, INSERT INTO, UPDATE x SET,
      DELETE FROM, CREATE/DROP TABLE|INDEX|TRIGGER|FUNCTION|VIEW, ALTER TABLE, PRAGMA, VACUUM,
      LISTEN x, NOTIFY x, WITH x AS (, a bare BEGIN/COMMIT/ROLLBACK) or holds a clause that
      only SQL writes (ON CONFLICT, GROUP BY, ORDER BY col, FOR UPDATE, SKIP LOCKED,
      COALESCE(, a WHERE/AND/OR/SET condition on a `?` placeholder or an f-string hole,
      `WHERE col IS [NOT] NULL`), keywords in capitals as this code base writes them;
    - a call of a method named execute, executemany or executescript;
    - importing a database driver (sqlite3, psycopg, sqlite-utils), or anything but the
      exception classes (DatabaseError, IntegrityError, StoreError) from the connection
      layer (opscopilot.store.backend, opscopilot.store.db).
    Docstrings are prose (a docstring may name `PRAGMA data_version`); other strings that
    merely mention SQL in running text (a sample ticket's log line "… query took 2412ms:
    SELECT * FROM orders WHERE customer_id = $1", `ss` output's "LISTEN") do not start like a
    statement and hold no clause of ours (no `?`), so they pass.
    """
    found = {}
    for folder, _, names in os.walk(_PACKAGE_ROOT):
        relative = os.path.relpath(folder, _PACKAGE_ROOT)
        if relative == "store" or relative.startswith("store" + os.sep):
            continue
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as source:
                hits = sql_outside_the_store(source.read())
            if hits:
                found[os.path.relpath(path, _PACKAGE_ROOT)] = hits
    assert found == {}, f"SQL outside opscopilot/store/: {found}"


def test_the_sql_check_sees_statements_fragments_calls_and_drivers():
    sample = '''
"""A docstring may say SELECT * FROM t WHERE a = ?."""
import sqlite3
from opscopilot.store.db import open_database, StoreError
q = f"SELECT {cols} FROM ledger_calls"
w = " AND day = ? ORDER BY created_at"
conn.execute(q)
log = "WARN slow query took 2412ms: SELECT * FROM orders"
'''
    lines = [line for line, _ in sql_outside_the_store(sample)]
    assert sorted(lines) == [3, 4, 5, 6, 7]
