"""`opscopilot doctor [--json]`: what works on this host, one check per line.

Each check is a function returning a `CheckResult`; `CHECKS` names them as "module:function"
(imported only when the command runs), so a layer adds its own check (store backend, MCP
servers …) by adding one line here and one function in its own module. A check that raises
is reported as failed with its one-line message, never as a crash.

Exit code 0 when every essential check passes (warnings allowed), 1 otherwise. `--json`
prints one object: `{"ok": bool, "checks": [{"name", "status": "ok"|"warn"|"fail",
"essential", "summary", "detail": {...}}]}`.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import click

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    summary: str  # one line for the operator
    essential: bool = True  # a failed essential check makes the exit code 1
    detail: dict[str, Any] = field(default_factory=dict)


# name -> "module:function"; run in this order.
CHECKS: dict[str, str] = {
    "config": "opscopilot.cli.doctor:check_config",
    "store": "opscopilot.cli.doctor:check_store",
    "sandbox": "opscopilot.cli.doctor:check_sandbox",
    "keys": "opscopilot.cli.doctor:check_keys",
    "mcp": "opscopilot.cli.mcp:doctor_check",
}


def check_config() -> CheckResult:
    """config.toml parses, and the sections the tools and policy read are valid."""
    from opscopilot import config

    path = config.config_path()
    detail: dict[str, Any] = {"path": str(path), "exists": path.exists()}
    try:
        data = config.load_config(path)
        from opscopilot.tools import Rules, ToolRegistry

        ToolRegistry.default(data)
        Rules.from_config(data)
    except Exception as exc:  # ConfigError, ToolError: both are one line
        return CheckResult("config", "fail", str(exc), detail=detail)
    if not detail["exists"]:
        return CheckResult("config", "ok", f"no config file at {path} (defaults)", detail=detail)
    return CheckResult("config", "ok", f"{path} is valid", detail=detail)


def check_store() -> CheckResult:
    """The store in use (a SQLite file, or the team's PostgreSQL server; never its password):
    it opens, its tables are at this opscopilot's version, and how long a round trip takes."""
    from opscopilot.store import Store
    from opscopilot.store.health import check

    health = check()
    detail = health.to_json()
    if not health.ok:
        return CheckResult("store", "fail", health.line(), detail=detail)
    try:
        with Store.open() as store:  # migrates, as every command would
            store.list_sessions(limit=1)
    except Exception as exc:
        return CheckResult("store", "fail", f"{health.location}: {exc}", detail=detail)
    return CheckResult("store", "ok", health.line(), detail=detail)


def check_sandbox() -> CheckResult:
    """The OS sandbox unattended calls run in; without it they ask (safe, but more prompts)."""
    from opscopilot.tools import sandbox

    state = sandbox.status()
    detail = {"available": state.available, "binary": state.binary, "reason": state.reason}
    if state.available:
        return CheckResult(
            "sandbox",
            "ok",
            f"bubblewrap at {state.binary}: read-only calls run confined",
            essential=False,
            detail=detail,
        )
    return CheckResult(
        "sandbox",
        "warn",
        f"{state.reason}; calls that would run without a person ask instead",
        essential=False,
        detail=detail,
    )


def check_keys() -> CheckResult:
    """Which providers have a key in the environment or config (names only, never values)."""
    from opscopilot import config
    from opscopilot.llm.providers import KNOWN

    try:
        section = config.section("providers")
    except config.ConfigError:
        section = {}  # the config check reports it; the environment's keys still count
    present: list[str] = []
    for name, (_adapter, _url, key_vars, _required, _url_var) in KNOWN.items():
        table = section.get(name) if isinstance(section.get(name), dict) else {}
        variables = tuple(table.get("key_env", [])) or key_vars
        found = [v for v in variables if os.environ.get(v)]
        if found:
            present.append(f"{name} ({found[0]})")
        elif table.get("api_key"):
            present.append(f"{name} (config.toml)")
    summary = (
        "keys for " + ", ".join(present)
        if present
        else "no provider key set: the default model is builtin:ops (offline)"
    )
    return CheckResult("keys", "ok", summary, essential=False, detail={"providers": present})


def run_checks() -> list[CheckResult]:
    from opscopilot.redact import redact

    results = []
    for name, target in CHECKS.items():
        module_name, _, attribute = target.partition(":")
        try:
            result = getattr(importlib.import_module(module_name), attribute)()
        except Exception as exc:
            result = CheckResult(name, "fail", f"{type(exc).__name__}: {exc}")
        results.append(
            CheckResult(
                result.name,
                result.status,
                redact(result.summary),
                result.essential,
                json.loads(redact(json.dumps(result.detail, default=str))),
            )
        )
    return results


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def doctor(as_json: bool) -> None:
    """What works on this host: config, store, sandbox, provider keys."""
    results = run_checks()
    ok = not any(r.status == "fail" and r.essential for r in results)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": [asdict(r) for r in results]}, indent=2))
    else:
        marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
        for result in results:
            click.echo(f"{marks[result.status]}  {result.name:<8} {result.summary}")
    raise SystemExit(0 if ok else 1)
