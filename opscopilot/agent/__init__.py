"""The agent's pure core: a turn as a state machine, `cmd(state, action) -> (state, directives)`.

Nothing here does I/O or reads a clock; `opscopilot.runtime` executes the directives.
"""

from __future__ import annotations

from .actions import (
    Action,
    ApprovalDecided,
    ApprovalExpired,
    BudgetHit,
    CallClassification,
    CallModel,
    Cancel,
    ClassifyTools,
    Directive,
    Emit,
    ModelFailed,
    ModelFinished,
    ModelOutcomeUnknown,
    RecordMessage,
    RequestApproval,
    Resumed,
    RetryDue,
    RunTool,
    ScheduleRetry,
    Stop,
    ToolFinished,
    ToolOutcomeUnknown,
    ToolsClassified,
    TurnRequested,
    WaitForApproval,
)
from .core import cmd
from .state import TERMINAL_STATUSES, TRANSITIONS, ToolCallState, TurnState, TurnStatus

__all__ = [
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "Action",
    "ApprovalDecided",
    "ApprovalExpired",
    "BudgetHit",
    "CallClassification",
    "CallModel",
    "Cancel",
    "ClassifyTools",
    "Directive",
    "Emit",
    "ModelFailed",
    "ModelFinished",
    "ModelOutcomeUnknown",
    "RecordMessage",
    "RequestApproval",
    "Resumed",
    "RetryDue",
    "RunTool",
    "ScheduleRetry",
    "Stop",
    "ToolCallState",
    "ToolFinished",
    "ToolOutcomeUnknown",
    "ToolsClassified",
    "TurnRequested",
    "TurnState",
    "TurnStatus",
    "WaitForApproval",
    "cmd",
]
