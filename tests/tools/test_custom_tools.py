"""Custom tools from config.toml: typed params, placeholders as whole arguments, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from opscopilot.tools import ToolError, ToolRegistry, classify, decide

ECHO_ARGS = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]


def registry(tools: dict) -> ToolRegistry:
    return ToolRegistry.default({"tools": tools})


def test_custom_tools_are_listed_with_a_schema_from_their_params() -> None:
    reg = registry(
        {
            "restart_unit": {
                "description": "Restart a unit",
                "command": ["systemctl", "restart", "{unit}"],
                "params": {
                    "unit": {"type": "string", "description": "unit name"},
                    "wait": {"type": "boolean", "required": False},
                },
                "risk": "write",
                "timeout_s": 20,
            }
        }
    )
    spec = {s.name: s for s in reg.specs()}["restart_unit"]
    assert spec.description == "Restart a unit"
    assert spec.parameters["required"] == ["unit"]
    assert spec.parameters["properties"]["unit"] == {"type": "string", "description": "unit name"}
    assert reg.names()[:5] == ["run_command", "read_file", "tail_log", "http_check", "system_info"]


def test_a_tool_set_builds_its_schemas_once_not_on_every_model_call() -> None:
    first, second = registry({}), registry({})
    # Every model call sends the specs; the JSON Schema of each tool is built once.
    assert all(a is b for a, b in zip(first.specs(), first.specs(), strict=True))
    assert all(a is b for a, b in zip(first.specs(), second.specs(), strict=True))
    tools = {
        "restart_unit": {
            "description": "Restart a unit",
            "command": ["systemctl", "restart", "{unit}"],
            "params": {"unit": {"type": "string"}},
        }
    }
    other = {
        **tools["restart_unit"],
        "command": ["systemctl", "restart", "{service}"],
        "params": {"service": {"type": "string"}},
    }
    one = {s.name: s for s in registry(tools).specs()}["restart_unit"]
    changed = {s.name: s for s in registry({"restart_unit": other}).specs()}["restart_unit"]
    assert list(one.parameters["properties"]) == ["unit"]
    assert list(changed.parameters["properties"]) == ["service"]  # a new config, a new schema


@pytest.mark.parametrize(
    "hostile",
    [
        "a b c",
        "x; rm -rf /",
        "$(touch /tmp/pwned)",
        "`id`",
        "a\nb",
        "'quoted' \"double\"",
        "*",
        "| cat",
    ],
)
def test_a_hostile_value_stays_one_argument(hostile: str, tmp_path: Path) -> None:
    reg = registry(
        {
            "show": {
                "description": "d",
                "command": [*ECHO_ARGS, "{value}", "--x={value}"],
                "params": {"value": {"type": "string"}},
                "risk": "read",
            }
        }
    )
    result = anyio.run(lambda: reg.get("show").run({"value": hostile}))
    import json

    assert result.status == "ok"
    assert json.loads(result.content) == [hostile, f"--x={hostile}"]


def test_typed_params_are_validated_and_rendered(tmp_path: Path) -> None:
    reg = registry(
        {
            "t": {
                "description": "d",
                "command": [*ECHO_ARGS, "{n}", "{f}", "{b}", "{opt}"],
                "params": {
                    "n": {"type": "integer"},
                    "f": {"type": "number"},
                    "b": {"type": "boolean"},
                    "opt": {"type": "string", "required": False},
                },
            }
        }
    )
    tool = reg.get("t")
    result = anyio.run(lambda: tool.run({"n": 3, "f": 1.5, "b": True}))
    assert result.content.strip() == '["3", "1.5", "true"]'  # the missing optional word is dropped
    with pytest.raises(ToolError) as caught:
        tool.validate({"n": "three", "f": 1, "b": False})
    assert caught.value.kind == "invalid_arguments" and "n:" in str(caught.value)


def test_a_value_that_looks_like_an_option_is_refused() -> None:
    reg = registry(
        {
            "logs": {
                "description": "d",
                "command": ["journalctl", "-u", "{unit}"],
                "params": {"unit": {"type": "string"}},
                "risk": "read",
            }
        }
    )
    with pytest.raises(ToolError) as caught:
        reg.get("logs").validate({"unit": "--vacuum-size=1"})
    assert "may not start with '-'" in str(caught.value)


def test_custom_tools_get_their_configured_risk() -> None:
    tools = {
        "peek": {"description": "d", "command": ["cat", "/etc/hostname"], "risk": "read"},
        "nuke": {"description": "d", "command": ["true"], "risk": "destructive"},
        "plain": {"description": "d", "command": ["true"]},
    }
    reg = registry(tools)
    assert classify("peek", {}, reg).risk == "read"
    assert classify("nuke", {}, reg).risk == "destructive"
    assert reg.classify("plain", {}).risk == "write"  # the default
    assert decide(reg.classify("nuke", {}), "read-only").action == "deny"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"x": {"command": ["ls"]}}, "[tools.x] description: Field required"),
        ({"x": {"description": "d", "command": []}}, "[tools.x] command:"),
        (
            {"x": {"description": "d", "command": ["ls", "{nope}"]}},
            "[tools.x] command uses {nope}, which is not in params",
        ),
        ({"x": {"description": "d", "command": ["ls"], "risk": "harmless"}}, "[tools.x] risk:"),
        (
            {"x": {"description": "d", "command": ["ls"], "params": {"p": {"type": "list"}}}},
            "[tools.x] params.p.type:",
        ),
        (
            {
                "x": {
                    "description": "d",
                    "command": ["sh", "-c", "echo {p}"],
                    "params": {"p": {"type": "string"}},
                }
            },
            "[tools.x] puts a placeholder into a shell",
        ),
        (
            {"run_command": {"description": "d", "command": ["ls"]}},
            "[tools.run_command] would replace a built-in tool",
        ),
        ({"x": "ls"}, "[tools.x] must be a table"),
    ],
)
def test_a_bad_tools_section_is_one_line_naming_it(section: dict, message: str) -> None:
    with pytest.raises(ToolError) as caught:
        registry(section)
    assert caught.value.kind == "bad_config"
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_default_reads_the_operators_config_toml(isolated_home: Path) -> None:
    (isolated_home / "config.toml").write_text(
        '[tools.disk_of]\ndescription = "df of a path"\ncommand = ["df", "-h", "{path}"]\n'
        'risk = "read"\n[tools.disk_of.params.path]\ntype = "string"\n'
    )
    reg = ToolRegistry.default()
    assert "disk_of" in reg
    result = anyio.run(lambda: reg.get("disk_of").run({"path": "/"}))
    assert result.status == "ok" and "/" in result.content
    with pytest.raises(ToolError) as caught:
        reg.get("nope")
    assert caught.value.kind == "unknown_tool"
