"""Custom tools from config.toml `[tools.NAME]`: an argv template with typed `{param}` slots.

A placeholder standing alone is replaced by the value as ONE whole argument; inside a larger
word ("--unit={unit}") it is replaced within that one word. Nothing goes through a shell,
so a value like `x; rm -rf / $(id)` is just an odd argument. A `type = "path"` param is
confined to its `root` folder: `..` is refused, the path is resolved with symlinks followed,
and the resolved path (which must stay under the resolved root) is what the command gets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from opscopilot.tools.base import Classification, OutputCallback, Risk, Tool, ToolResult
from opscopilot.tools.commands import SHELLS
from opscopilot.tools.errors import ToolError
from opscopilot.tools.process import run_process

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "path": str,
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


class ParamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = "string"
    description: str = ""
    required: bool = True
    root: str | None = None  # type "path": the folder the value must stay in

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in _TYPES:
            raise ValueError(f"must be one of {', '.join(_TYPES)}")
        return value

    @model_validator(mode="after")
    def _root_for_paths(self) -> ParamConfig:
        if self.type == "path":
            if not self.root or not os.path.isabs(self.root):
                raise ValueError('a "path" param needs root = "/an/absolute/folder"')
        elif self.root is not None:
            raise ValueError('root is only for type = "path"')
        return self


class CustomToolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1)
    command: list[str] = Field(min_length=1)
    params: dict[str, ParamConfig] = Field(default_factory=dict)
    risk: Risk = "write"
    timeout_s: float = Field(30, gt=0, le=3600)


def _string_guard(value: Any) -> Any:
    # A value that starts with "-" would be read as an option by the program it is handed to.
    if isinstance(value, str) and (value.startswith("-") or "\x00" in value):
        raise ValueError("may not start with '-' or contain NUL")
    return value


def confined_path(value: str, root: str) -> str:
    """`value` (relative to root, or absolute) resolved with symlinks; it must stay in root."""
    _string_guard(value)
    if ".." in re.split(r"[/\\]", value):
        raise ValueError("may not contain '..'")
    real_root = os.path.realpath(root)
    resolved = os.path.realpath(os.path.join(real_root, value))
    if os.path.commonpath([resolved, real_root]) != real_root:
        raise ValueError(f"must stay inside {root} (it resolves to {resolved})")
    return resolved


def _args_model(name: str, params: Mapping[str, ParamConfig]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    validators: dict[str, Any] = {}
    for param, spec in params.items():
        python_type = _TYPES[spec.type]
        if spec.required:
            fields[param] = (python_type, Field(description=spec.description))
        else:
            fields[param] = (python_type | None, Field(None, description=spec.description))
        if spec.type == "string":
            validators[f"_guard_{param}"] = field_validator(param)(
                classmethod(lambda cls, v: _string_guard(v))  # type: ignore[arg-type]
            )
        elif spec.type == "path":
            root = spec.root or "/"
            validators[f"_confine_{param}"] = field_validator(param)(
                classmethod(  # type: ignore[arg-type]
                    lambda cls, v, root=root: v if v is None else confined_path(v, root)
                )
            )
    model_name = "".join(part.capitalize() for part in re.split(r"[_\-]", name)) + "Args"
    return create_model(  # type: ignore[call-overload,no-any-return]
        model_name, __config__=ConfigDict(extra="forbid"), __validators__=validators, **fields
    )


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CustomTool(Tool):
    """An operator-defined tool: fixed argv, typed parameters, the risk the operator gave it."""

    def __init__(self, name: str, spec: CustomToolConfig) -> None:
        self.name = name  # type: ignore[misc]
        self.description = spec.description  # type: ignore[misc]
        self.config = spec
        self.args_model = _args_model(name, spec.params)

    @classmethod
    def from_config(cls, name: str, section: Any) -> CustomTool:
        """Build from a `[tools.NAME]` table; any problem is one ToolError line naming it."""
        where = f"[tools.{name}]"
        if not _NAME.match(name):
            raise ToolError("bad_config", f"{where}: tool names are letters, digits, _ and -")
        if not isinstance(section, Mapping):
            raise ToolError("bad_config", f"{where} must be a table")
        try:
            spec = CustomToolConfig.model_validate(dict(section))
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"])
            raise ToolError("bad_config", f"{where} {field}: {problem['msg']}") from None
        for word in spec.command:
            for placeholder in _PLACEHOLDER.findall(word):
                if placeholder not in spec.params:
                    raise ToolError(
                        "bad_config",
                        f"{where} command uses {{{placeholder}}}, which is not in params",
                    )
        program = spec.command[0].rsplit("/", 1)[-1]
        if program in SHELLS and any(_PLACEHOLDER.search(w) for w in spec.command[1:]):
            raise ToolError(
                "bad_config",
                f"{where} puts a placeholder into a shell script, "
                "where a value could inject commands; call the program directly",
            )
        return cls(name, spec)

    def argv(self, args: BaseModel) -> list[str]:
        """The command with placeholders filled; a word whose value is missing is dropped."""
        values = args.model_dump()
        argv = []
        for word in self.config.command:
            names = _PLACEHOLDER.findall(word)
            if any(values.get(n) is None for n in names):
                continue  # an optional parameter that was not given
            if _PLACEHOLDER.fullmatch(word):
                argv.append(_render(values[names[0]]))
            else:
                argv.append(_PLACEHOLDER.sub(lambda m: _render(values[m.group(1)]), word))
        return argv

    def classify(self, arguments: dict[str, Any]) -> Classification:
        subject = self.name
        try:
            subject = " ".join(self.argv(self.validate(arguments)))
        except ToolError:
            pass
        return Classification(
            self.config.risk,
            f"custom tool configured as {self.config.risk}",
            tool=self.name,
            command=subject,
            subjects=(self.name, subject),
        )

    async def run(
        self,
        args: BaseModel | dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
        approved_shell: bool = False,
    ) -> ToolResult:
        parsed = self.validate(args)
        return await run_process(
            self.argv(parsed), timeout_s=self.config.timeout_s, on_output=on_output
        )
