"""Custom-tool params declared `type = "path"` stay inside their root folder."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from opscopilot.tools import ToolError, ToolRegistry


def show_log(root: Path) -> ToolRegistry:
    return ToolRegistry.default(
        {
            "tools": {
                "show_log": {
                    "description": "Show one log file",
                    "command": ["cat", "{file}"],
                    "risk": "read",
                    "params": {"file": {"type": "path", "root": str(root)}},
                }
            }
        }
    )


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    (root / "nginx").mkdir(parents=True)
    (root / "nginx" / "error.log").write_text("upstream timed out\n")
    (root / "inside-link").symlink_to(root / "nginx" / "error.log")
    (tmp_path / "secret.txt").write_text("s3cr3t\n")
    (root / "outside-link").symlink_to(tmp_path / "secret.txt")
    (root / "dir-link").symlink_to(tmp_path)
    (tmp_path / "logsx").mkdir()
    (tmp_path / "logsx" / "app.log").write_text("neighbour\n")
    return root


def test_a_path_inside_the_root_runs_with_its_resolved_path(logs: Path) -> None:
    registry = show_log(logs)
    tool = registry.get("show_log")
    for value in ("nginx/error.log", str(logs / "nginx" / "error.log"), "inside-link"):
        args = tool.validate({"file": value})
        assert tool.argv(args) == ["cat", str((logs / "nginx" / "error.log").resolve())]
    result = anyio.run(lambda: tool.run({"file": "nginx/error.log"}))
    assert result.status == "ok" and "upstream timed out" in result.content
    assert registry.classify("show_log", {"file": "nginx/error.log"}).risk == "read"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("../secret.txt", ".."),
        ("nginx/../../secret.txt", ".."),
        ("..", ".."),
        ("outside-link", "must stay inside"),
        ("dir-link/secret.txt", "must stay inside"),
        ("/etc/passwd", "must stay inside"),
        ("{tmp}/secret.txt", "must stay inside"),
        ("{tmp}/logsx/app.log", "must stay inside"),
        ("-n", "may not start with '-'"),
        ("--help", "may not start with '-'"),
        ("a\x00b", "NUL"),
    ],
)
def test_a_path_that_leaves_the_root_is_refused(logs: Path, value: str, why: str) -> None:
    tool = show_log(logs).get("show_log")
    with pytest.raises(ToolError) as caught:
        tool.validate({"file": value.replace("{tmp}", str(logs.parent))})
    assert caught.value.kind == "invalid_arguments"
    assert why in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"type": "path"}, "needs root"),
        ({"type": "path", "root": "var/log"}, "needs root"),
        ({"type": "string", "root": "/var/log"}, "root is only for"),
    ],
)
def test_a_path_param_needs_an_absolute_root(param: dict, message: str) -> None:
    with pytest.raises(ToolError) as caught:
        ToolRegistry.default(
            {
                "tools": {
                    "t": {"description": "d", "command": ["cat", "{p}"], "params": {"p": param}}
                }
            }
        )
    assert caught.value.kind == "bad_config" and message in str(caught.value)
