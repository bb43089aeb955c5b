"""The tools a model may call: the built-ins plus the operator's `[tools.NAME]` custom tools."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from opscopilot.llm.types import ToolSpec
from opscopilot.tools.base import Classification, Tool
from opscopilot.tools.command_tool import RunCommandTool
from opscopilot.tools.custom import CustomTool
from opscopilot.tools.errors import ToolError
from opscopilot.tools.file_tools import ReadFileTool, TailLogTool
from opscopilot.tools.http_tool import HttpCheckTool
from opscopilot.tools.system_tool import SystemInfoTool


def builtin_tools() -> list[Tool]:
    return [RunCommandTool(), ReadFileTool(), TailLogTool(), HttpCheckTool(), SystemInfoTool()]


def _cached_mcp_tools(config_dict: Mapping[str, Any]) -> list[Tool]:
    """MCP tools as their servers last listed them (no server starts, no SDK import), so an
    approval's edited arguments are checked against the tool's schema; a runtime replaces
    them with the live listing before any call is judged or run."""
    from opscopilot import config
    from opscopilot.mcp import McpServers

    servers = McpServers.from_config(config_dict, config.data_dir())
    return servers.tools() if servers else []


class ToolRegistry:
    """Name -> Tool, in a stable order (built-ins first, then custom tools as configured)."""

    def __init__(self, tools: list[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        self._extra: list[str] = []
        for tool in tools:
            self._tools[tool.name] = tool

    @classmethod
    def builtin(cls) -> ToolRegistry:
        return cls(builtin_tools())

    @classmethod
    def default(cls, config_dict: Mapping[str, Any] | None = None) -> ToolRegistry:
        """Built-ins plus `[tools.NAME]` from `config_dict` (the whole parsed config.toml;
        None reads the operator's config). A bad section raises ToolError("bad_config")."""
        if config_dict is None:
            from opscopilot import config

            config_dict = config.config()
        section = config_dict.get("tools") or {}
        if not isinstance(section, Mapping):
            raise ToolError("bad_config", "[tools] must be a table of [tools.NAME] tables")
        tools = builtin_tools()
        builtin_names = {tool.name for tool in tools}
        for name, table in section.items():
            if name in builtin_names:
                raise ToolError("bad_config", f"[tools.{name}] would replace a built-in tool")
            tools.append(CustomTool.from_config(name, table))
        prometheus = config_dict.get("prometheus")
        if prometheus:
            from opscopilot.tools.metrics_tool import QueryMetricsTool

            if not isinstance(prometheus, Mapping):
                raise ToolError("bad_config", "[prometheus] must be a table")
            tools.insert(len(builtin_names), QueryMetricsTool.from_config(prometheus))
        registry = cls(tools)
        if config_dict.get("mcp_servers"):
            registry.set_extra(_cached_mcp_tools(config_dict))
        return registry

    def set_extra(self, tools: list[Tool]) -> None:
        """Replace the tools added at run time (MCP servers' tools); they never shadow a
        built-in or custom tool."""
        for name in self._extra:
            self._tools.pop(name, None)
        self._extra = [tool.name for tool in tools if tool.name not in self._tools]
        for tool in tools:
            self._tools.setdefault(tool.name, tool)

    def specs(self) -> list[ToolSpec]:
        return [tool.spec() for tool in self._tools.values()]

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(self._tools)
            raise ToolError("unknown_tool", f"no tool named {name!r} (tools: {known})") from None

    def classify(self, name: str, arguments: Mapping[str, Any]) -> Classification:
        """Classify a call; an unknown tool is "write" (it will fail, but never silently run)."""
        if name not in self._tools:
            return Classification("write", f"unknown tool {name!r}", tool=name, subjects=(name,))
        return self._tools[name].classify(dict(arguments))

    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)
