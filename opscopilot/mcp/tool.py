"""An MCP server's tool as a first-class opscopilot tool: `NAME__TOOL`, the server's JSON
schema, a risk from its annotations or the operator's config, capped and redacted output."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, RootModel

from opscopilot.llm.types import ToolSpec
from opscopilot.mcp.config import SEPARATOR, ServerConfig
from opscopilot.mcp.connection import ListedTool
from opscopilot.redact import redact
from opscopilot.tools.base import Classification, OutputCallback, Risk, Tool, ToolResult
from opscopilot.tools.errors import ToolError

if TYPE_CHECKING:
    from opscopilot.mcp.servers import McpServers

MAX_DESCRIPTION = 2000  # a server's description goes to the model: keep it bounded
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_MODEL_NAME_LIMIT = 64  # what every provider accepts for a function name


class McpArguments(RootModel[dict[str, Any]]):
    """The call's arguments as a JSON object (the server's schema checks them)."""


def model_name(server: str, tool: str) -> str:
    """The name the model sees: `server__tool`, in the characters every provider accepts."""
    return f"{server}{SEPARATOR}{_UNSAFE.sub('_', tool)}"[:_MODEL_NAME_LIMIT]


def risk_of(config: ServerConfig, listed: ListedTool) -> tuple[Risk, str]:
    """The call's risk and why: the operator's override, else the server's annotations."""
    override = config.risk.get(listed.name)
    if override is not None:
        return override, "risk set in config"  # type: ignore[return-value]
    if not config.trust_annotations:
        return "write", "annotations not trusted (trust_annotations = false)"
    if listed.read_only:
        return "read", "the server marks it read-only"
    if listed.destructive:
        return "destructive", "the server marks it destructive"
    return "write", "the server does not mark it read-only"


class McpTool(Tool):
    """One tool of one configured server; calls go through that server's connection."""

    args_model = McpArguments
    # The call runs in the server (already started): no program on this host to sandbox, so
    # whether it may run unattended is the server's trust, decided in classify().
    in_process = True

    def __init__(self, servers: McpServers, config: ServerConfig, listed: ListedTool) -> None:
        self._servers = servers
        self.config = config
        self.listed = listed
        self.name = model_name(config.name, listed.name)  # type: ignore[misc]
        summary = listed.description[:MAX_DESCRIPTION] or listed.name
        self.description = f"[{config.name} MCP server] {summary}"  # type: ignore[misc]
        self.risk, self.risk_reason = risk_of(config, listed)

    def spec(self) -> ToolSpec:
        schema = dict(self.listed.input_schema)
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        return ToolSpec(name=self.name, description=self.description, parameters=schema)

    def validate(self, arguments: dict[str, Any] | BaseModel) -> BaseModel:
        if isinstance(arguments, McpArguments):
            return arguments
        if isinstance(arguments, BaseModel):
            arguments = arguments.model_dump()
        if not isinstance(arguments, dict):
            raise ToolError("invalid_arguments", f"{self.name}: arguments must be a JSON object")
        problem = _schema_problem(self.listed.input_schema, arguments)
        if problem:
            raise ToolError("invalid_arguments", f"{self.name}: {problem}")
        return McpArguments(arguments)

    def classify(self, arguments: dict[str, Any]) -> Classification:
        where = f"MCP server {self.config.name}: {self.risk_reason}"
        needs_person = None
        if self.risk == "read" and not self.config.trusted:
            # The call runs in the server, out of reach of the OS sandbox.
            needs_person = f"{self.config.name} is not a trusted server (trusted = false)"
        return Classification(
            self.risk,
            where,
            tool=self.name,
            subjects=(self.name,),
            needs_person=needs_person,
        )

    async def run(
        self,
        args: BaseModel | dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
        approved_shell: bool = False,
    ) -> ToolResult:
        parsed = self.validate(args)
        assert isinstance(parsed, McpArguments)
        started = time.monotonic()
        result = await self._servers.call(
            self.config.name, self.listed.name, parsed.root, on_output=on_output
        )
        return result.model_copy(update={"duration_s": round(time.monotonic() - started, 3)})


def _schema_problem(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """The first way `arguments` break the server's JSON schema (None: fine, or no usable
    schema: the server checks again anyway)."""
    try:
        import jsonschema
    except ImportError:  # the SDK depends on it; without it the server's own check stands
        return None
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(arguments))
    except (jsonschema.exceptions.SchemaError, TypeError, ValueError):
        return None
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path) or "arguments"
    return redact(f"{where}: {error.message}")
