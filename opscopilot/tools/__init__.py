"""Ops tools behind an approval policy: run_command, read_file, tail_log, http_check,
system_info and the operator's custom tools, each classified by parsing before it runs."""

from __future__ import annotations

from opscopilot.tools.base import Classification, OutputCallback, Risk, Tool, ToolResult
from opscopilot.tools.custom import CustomTool
from opscopilot.tools.environment import is_secret_variable, scrubbed_environment
from opscopilot.tools.errors import ToolError
from opscopilot.tools.policy import (
    MODES,
    AllowRule,
    Decision,
    Mode,
    Rules,
    call_hash,
    classify,
    decide,
)
from opscopilot.tools.registry import ToolRegistry

__all__ = [
    "MODES",
    "AllowRule",
    "Classification",
    "CustomTool",
    "Decision",
    "Mode",
    "OutputCallback",
    "Risk",
    "Rules",
    "Tool",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "call_hash",
    "classify",
    "decide",
    "is_secret_variable",
    "scrubbed_environment",
]
