"""MCP tool servers (`[mcp_servers.NAME]`): their tools reach the model as `NAME__TOOL` and go
through the same policy, approvals, journal, redaction and recordings as built-in tools.

stdio servers are spoken to directly (`stdio.py`, no SDK); only a streamable HTTP server
makes `connection.py` import the SDK (the `opscopilot[mcp]` extra), when it starts: without
one, nothing of the SDK is ever loaded.
"""

from __future__ import annotations

from opscopilot.mcp.config import McpConfigError, ServerConfig, servers_from_config
from opscopilot.mcp.servers import McpServers

__all__ = ["McpConfigError", "McpServers", "ServerConfig", "servers_from_config"]
