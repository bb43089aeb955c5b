"""The tools a turn may offer the model: the built-in registry, the configured MCP servers,
and the policy that judges each proposed call; each loaded when first used.

The model caller reads the specs and the system prompt's note from it; the tool caller
classifies, judges and runs calls through it. Neither knows where the tools came from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opscopilot import config
from opscopilot.events import Notice
from opscopilot.redact import redact

if TYPE_CHECKING:
    from opscopilot.llm.types import ToolSpec
    from opscopilot.store import Store

    from .live import LiveTurn


class Toolbox:
    """The tool registry and MCP servers of one runtime, and the policy over them."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self._registry: Any = None
        self._mcp: Any = None  # opscopilot.mcp.McpServers, when config.toml names servers

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from opscopilot.tools import ToolRegistry

            self._registry = ToolRegistry.default(config.config())
        return self._registry

    @property
    def mcp(self) -> Any:
        """The configured MCP servers (None without any: the SDK is then never imported)."""
        if self._mcp is None:
            settings = config.config()
            if "mcp_servers" not in settings:  # nothing to start: not even the parsing loads
                self._mcp = False
                return None
            from opscopilot.mcp import McpServers

            self._mcp = McpServers.from_config(settings, config.data_dir()) or False
        return self._mcp or None

    def system_prompt(self, base: str) -> str:
        """The base prompt, with a note on MCP servers whose tools cannot be had right now."""
        note = self._mcp.unavailable_note() if self._mcp else None
        return f"{base}\n\n{note}" if note else base

    async def prepare(self, live: LiveTurn, *, for_call: bool = True) -> None:
        """Start the MCP servers this turn needs (lazily, in parallel) and offer their tools;
        a model call waits only for servers whose tools are not known from an earlier listing."""
        servers = self.mcp
        if servers is None:
            return
        for line in await servers.prepare(live.state.turn_id, live=for_call):
            live.publish(
                Notice(
                    ts=self.clock(),
                    session_id=live.state.session_id,
                    turn_id=live.state.turn_id,
                    level="warning",
                    message=redact(line),
                )
            )
        self.registry.set_extra(servers.tools())

    def model_call_under_way(self) -> None:
        """The model is answering: start the MCP servers whose kept listing let this call
        begin without them (started earlier, they would compete with its request for CPU)."""
        if self._mcp:
            self._mcp.start_deferred()

    def specs(self) -> list[ToolSpec]:
        return list(self.registry.specs())

    def get(self, name: str) -> Any:
        """The tool of that name (ToolError when there is none)."""
        return self.registry.get(name)

    def classify(self, name: str, arguments: dict[str, Any]) -> Any:
        from opscopilot.tools import classify

        return classify(name, arguments, registry=self.registry)

    def decide(self, classification: Any, mode: str, rules: Any) -> Any:
        from opscopilot.tools import decide

        return decide(classification, mode, rules)

    def rules(self, session_id: str) -> Any:
        """Deny/allow rules from config.toml plus the session's always-allow rules (blocking)."""
        from opscopilot.tools import Rules

        session_rules = self.store.list_allow_rules(session_id)
        return Rules.from_config(config.config()).with_session(session_rules)

    async def aclose(self) -> None:
        if self._mcp:
            await self._mcp.aclose()
