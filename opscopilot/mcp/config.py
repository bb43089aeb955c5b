"""`[mcp_servers.NAME]` in config.toml, parsed and checked without importing the MCP SDK.

A server is either `command` (an argv list, started over stdio, optional `env`) or `url`
(streamable HTTP, optional `headers`). Values may name environment variables as `${VAR}`;
they are expanded when the server starts. Every header value and every `env` value with a
secret-looking name is registered for redaction (a token never lands on disk or on screen).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opscopilot import redact
from opscopilot.config import ConfigError

RISKS = ("read", "write", "destructive")
DEFAULT_TIMEOUT_S = 60.0  # one tool call
DEFAULT_STARTUP_TIMEOUT_S = 10.0  # starting a server and listing its tools
SEPARATOR = "__"  # the model sees NAME__TOOL

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KEYS = {
    "command",
    "env",
    "cwd",
    "url",
    "headers",
    "enabled_tools",
    "disabled_tools",
    "risk",
    "trust_annotations",
    "trusted",
    "timeout_s",
    "startup_timeout_s",
}


class McpConfigError(ConfigError):
    """A `[mcp_servers.NAME]` table is wrong, or names a variable that is not set; one line."""


@dataclass(frozen=True)
class ServerConfig:
    """One configured server, as written (variables not expanded yet)."""

    name: str
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    enabled_tools: tuple[str, ...] | None = None
    disabled_tools: tuple[str, ...] = ()
    risk: Mapping[str, str] = field(default_factory=dict)  # tool -> read|write|destructive
    trust_annotations: bool = True
    trusted: bool = True
    timeout_s: float = DEFAULT_TIMEOUT_S
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def offers(self, tool: str) -> bool:
        """Whether the operator lets the model see this tool of the server."""
        if self.enabled_tools is not None and tool not in self.enabled_tools:
            return False
        return tool not in self.disabled_tools

    def expanded_command(self) -> list[str]:
        return [expand(part, f"{self.name}: command") for part in self.command]

    def expanded_env(self) -> dict[str, str]:
        values = {key: expand(value, f"{self.name}: env {key}") for key, value in self.env.items()}
        # Secret-looking names (TOKEN, KEY, PASSWORD …): their values are masked everywhere.
        redact.register_environment_secrets(values)
        return values

    def expanded_url(self) -> str:
        return expand(self.url or "", f"{self.name}: url")

    def expanded_headers(self) -> dict[str, str]:
        values = {
            key: expand(value, f"{self.name}: header {key}") for key, value in self.headers.items()
        }
        for value in values.values():
            redact.register_secret(value)
            # "Bearer abc": the token alone is the secret too (it may be echoed without the word).
            _, _, token = value.partition(" ")
            redact.register_secret(token)
        return values

    def where(self) -> str:
        """What the operator sees for this server: its program or its URL (no secrets)."""
        if self.command:
            return " ".join(self.command)
        return self.url or ""


def expand(value: str, where: str) -> str:
    """Replace `${VAR}` by the variable's value; an unset variable is McpConfigError."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise McpConfigError(f"mcp server {where}: ${{{name}}} is not set")
        return os.environ[name]

    return _VARIABLE.sub(replace, value)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise McpConfigError(f"[mcp_servers.{where}] must be a list of strings")
    return tuple(value)


def _string_table(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise McpConfigError(f"[mcp_servers.{where}] must be a table of strings")
    return dict(value)


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise McpConfigError(f"[mcp_servers.{where}] must be a number of seconds (0-3600)")
    return float(value)


def parse_server(name: str, table: Any) -> ServerConfig:
    """One `[mcp_servers.NAME]` table; anything wrong is one McpConfigError line."""
    if not _NAME.match(name) or SEPARATOR in name:
        raise McpConfigError(
            f"[mcp_servers.{name}]: a server name is letters, digits, '-' and single '_' "
            "(at most 32; the model sees NAME__TOOL)"
        )
    if not isinstance(table, Mapping):
        raise McpConfigError(f"[mcp_servers.{name}] must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise McpConfigError(f"[mcp_servers.{name}]: unknown key {unknown[0]!r}")
    has_command, has_url = "command" in table, "url" in table
    if has_command == has_url:
        raise McpConfigError(f"[mcp_servers.{name}] needs either command (stdio) or url (http)")
    options: dict[str, Any] = {"name": name}
    if has_command:
        command = _strings(table["command"], f"{name}] command")
        if not command:
            raise McpConfigError(f"[mcp_servers.{name}] command must name a program")
        options["command"] = command
        options["env"] = _string_table(table.get("env", {}), f"{name}] env")
        if "headers" in table:
            raise McpConfigError(f"[mcp_servers.{name}]: headers are for url servers")
        if "cwd" in table:
            if not isinstance(table["cwd"], str):
                raise McpConfigError(f"[mcp_servers.{name}] cwd must be a string")
            options["cwd"] = table["cwd"]
    else:
        url = table["url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "${")):
            raise McpConfigError(f"[mcp_servers.{name}] url must be an http(s) URL")
        options["url"] = url
        options["headers"] = _string_table(table.get("headers", {}), f"{name}] headers")
        if "env" in table:
            raise McpConfigError(f"[mcp_servers.{name}]: env is for command servers")
    if "enabled_tools" in table:
        options["enabled_tools"] = _strings(table["enabled_tools"], f"{name}] enabled_tools")
    if "disabled_tools" in table:
        options["disabled_tools"] = _strings(table["disabled_tools"], f"{name}] disabled_tools")
    risk = _string_table(table.get("risk", {}), f"{name}] risk")
    for tool, level in risk.items():
        if level not in RISKS:
            raise McpConfigError(
                f"[mcp_servers.{name}] risk.{tool} must be one of {', '.join(RISKS)}"
            )
    options["risk"] = risk
    for key in ("trust_annotations", "trusted"):
        if key in table:
            if not isinstance(table[key], bool):
                raise McpConfigError(f"[mcp_servers.{name}] {key} must be true or false")
            options[key] = table[key]
    # A command the operator wrote is theirs; a URL is someone else's server.
    options.setdefault("trusted", has_command)
    for key in ("timeout_s", "startup_timeout_s"):
        if key in table:
            options[key] = _seconds(table[key], f"{name}] {key}")
    return ServerConfig(**options)


def servers_from_config(config_dict: Mapping[str, Any]) -> list[ServerConfig]:
    """Every `[mcp_servers.NAME]` of the parsed config.toml, in the order written."""
    section = config_dict.get("mcp_servers") or {}
    if not isinstance(section, Mapping):
        raise McpConfigError("[mcp_servers] must be a table of [mcp_servers.NAME] tables")
    return [parse_server(name, table) for name, table in section.items()]
