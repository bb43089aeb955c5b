"""The shape every tool has: a pydantic argument model, a risk classifier and an async run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ValidationError

from opscopilot.llm.types import ToolSpec
from opscopilot.tools.errors import ToolError

Risk = Literal["read", "write", "destructive"]
RISK_ORDER: dict[str, int] = {"read": 0, "write": 1, "destructive": 2}

# on_output(stream, text): stream is "stdout" or "stderr"; text is one redacted line.
OutputCallback = Callable[[str, str], None]


def riskier(a: Risk, b: Risk) -> Risk:
    """The higher of two risks."""
    return a if RISK_ORDER[a] >= RISK_ORDER[b] else b


@dataclass(frozen=True)
class Classification:
    """What a call would do, decided by parsing its arguments (never by the model's label).

    `subjects` are the normalized forms deny/allow rules are matched against: the tool name,
    the whole normalized command and every command seen through wrappers (`sudo rm x` also
    yields `rm x`), so a deny rule cannot be dodged by a prefix.
    """

    risk: Risk
    reason: str
    needs_shell: bool = False
    tool: str = ""
    command: str | None = None  # the normalized command (or "tool argument") for exact rules
    subjects: tuple[str, ...] = field(default_factory=tuple)
    network: bool = False  # a read whose job is the network (http_check, curl, dig …)
    # Why this read-only call still needs a person (e.g. it runs in an untrusted MCP server).
    needs_person: str | None = None


class ToolResult(BaseModel):
    """A finished call. `content` is exactly what goes back to the model (already redacted)."""

    status: Literal["ok", "error", "timeout"]
    content: str
    exit_code: int | None = None
    duration_s: float = 0.0
    truncated: bool = False
    data: dict[str, Any] | None = None  # structured figures for code (system_info), not the model


@lru_cache(maxsize=256)
def _spec(name: str, description: str, args_model: type[BaseModel]) -> ToolSpec:
    # Shared by every call that sends this tool: read it, never change it.
    return ToolSpec.from_model(name, description, args_model)


def readable_validation_error(tool: str, error: ValidationError) -> str:
    """One line naming every bad field, e.g. `run_command: command: Field required`."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "not an argument of this tool"
        problems.append(f"{where}: {message}")
    return f"{tool}: " + "; ".join(problems)


class Tool(ABC):
    """One ops tool. Subclasses set name, description, args_model and implement run/classify."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    args_model: type[BaseModel]
    # True when the tool starts no program (it works inside opscopilot): the OS sandbox has
    # nothing to wrap, so an unattended call of it needs none. Default False: fail closed.
    in_process: ClassVar[bool] = False

    def spec(self) -> ToolSpec:
        """What the model is told of this tool (built once per name, description and argument
        model: every model call sends it, and building a JSON Schema costs milliseconds)."""
        return _spec(self.name, self.description, self.args_model)

    def validate(self, arguments: dict[str, Any] | BaseModel) -> BaseModel:
        """Parse the model's arguments; a problem is ToolError("invalid_arguments", one line)."""
        if isinstance(arguments, self.args_model):
            return arguments
        if isinstance(arguments, BaseModel):
            arguments = arguments.model_dump()
        if not isinstance(arguments, dict):
            raise ToolError("invalid_arguments", f"{self.name}: arguments must be a JSON object")
        try:
            return self.args_model.model_validate(arguments)
        except ValidationError as exc:
            raise ToolError(
                "invalid_arguments", readable_validation_error(self.name, exc)
            ) from None

    @abstractmethod
    def classify(self, arguments: dict[str, Any]) -> Classification:
        """The risk of this call, by parsing its arguments."""

    @abstractmethod
    async def run(
        self,
        args: BaseModel | dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
        approved_shell: bool = False,
    ) -> ToolResult:
        """Run the call; failures come back as a ToolResult with status error or timeout."""
