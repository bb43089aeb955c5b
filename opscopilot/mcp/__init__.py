"""MCP tool servers (`[mcp_servers.NAME]`): their tools reach the model as `NAME__TOOL` and go
through the same policy, approvals, journal, redaction and recordings as built-in tools.

Only `connection.py` imports the SDK (the `opscopilot[mcp]` extra), and only when a server
starts: with no server configured nothing of it is ever loaded.
"""

from __future__ import annotations

from opscopilot.mcp.config import McpConfigError, ServerConfig, servers_from_config
from opscopilot.mcp.servers import McpServers

__all__ = ["McpConfigError", "McpServers", "ServerConfig", "servers_from_config"]
