"""The approval policy: classify a call by parsing it, then decide run / ask / deny.

Nothing here reads tool output: a result can never approve or widen anything. Deny rules
from config always win, over allow rules and over mode `all`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from opscopilot.tools.base import Classification
from opscopilot.tools.command_policy import normalize_command
from opscopilot.tools.errors import ToolError

if TYPE_CHECKING:
    from opscopilot.tools.registry import ToolRegistry

Mode = Literal["ask", "read-only", "all", "none"]
MODES: tuple[str, ...] = ("ask", "read-only", "all", "none")


@dataclass(frozen=True)
class AllowRule:
    """Allow one tool (command None) or one exact normalized command of run_command."""

    tool: str
    command: str | None = None


@dataclass(frozen=True)
class Rules:
    """Operator rules: config `[approvals] allow/deny` plus the session's always-allow rules."""

    allow: tuple[str, ...] = ()  # exact commands or tool names
    deny: tuple[str, ...] = ()  # glob patterns on normalized commands or tool names
    session_allow: tuple[AllowRule, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, config_dict: Mapping[str, Any] | None = None) -> Rules:
        """Read `[approvals]` (allow, deny); a bad section is ToolError("bad_config")."""
        if config_dict is None:
            from opscopilot import config

            config_dict = config.config()
        section = config_dict.get("approvals") or {}
        if not isinstance(section, Mapping):
            raise ToolError("bad_config", "[approvals] must be a table")
        lists = {}
        for key in ("allow", "deny"):
            value = section.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ToolError("bad_config", f"[approvals] {key} must be a list of strings")
            normalize = normalize_command if key == "allow" else (lambda v: " ".join(v.split()))
            lists[key] = tuple(normalize(v) for v in value if v.strip())
        return cls(allow=lists["allow"], deny=lists["deny"])

    def with_session(self, rules: Iterable[Any]) -> Rules:
        """Add session always-allow rules (store records, dicts or AllowRule) to these rules."""
        added = []
        for rule in rules:
            if isinstance(rule, Mapping):
                tool, command = str(rule["tool"]), rule.get("command")
            else:
                tool, command = str(rule.tool), getattr(rule, "command", None)
            added.append(AllowRule(tool, normalize_command(command) if command else None))
        return Rules(self.allow, self.deny, self.session_allow + tuple(added))


@dataclass(frozen=True)
class Decision:
    """What happens to a call now. `shell` is True when the operator's standing choice (mode
    `all` or an exact allow rule for this very command) already approves shell interpretation."""

    action: Literal["run", "ask", "deny"]
    reason: str
    shell: bool = False
    standing: bool = False  # a person's standing choice approves this very call (runs unconfined)


def call_hash(name: str, arguments: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of {"arguments", "name"}."""
    canonical = json.dumps(
        {"arguments": arguments, "name": name},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def classify(
    name: str, arguments: Mapping[str, Any], registry: ToolRegistry | None = None
) -> Classification:
    """Classify one call by parsing its arguments (built-ins, or the registry's custom tools)."""
    from opscopilot.tools.registry import ToolRegistry

    registry = registry or ToolRegistry.builtin()
    if name not in registry:
        return Classification("write", f"unknown tool {name!r}", tool=name, subjects=(name,))
    return registry.get(name).classify(dict(arguments))


def _deny_match(classification: Classification, patterns: Iterable[str]) -> str | None:
    subjects = {classification.tool, *classification.subjects}
    if classification.command:
        subjects.add(classification.command)
    for pattern in patterns:
        # "rm *" also denies a bare `rm` (as when xargs supplies the arguments).
        if any(
            fnmatch.fnmatchcase(subject, pattern) or fnmatch.fnmatchcase(subject + " ", pattern)
            for subject in subjects
            if subject
        ):
            return pattern
    return None


def _exact_allow(classification: Classification, rules: Rules) -> bool:
    if classification.command is None:
        return False
    exact = {r for r in rules.allow} | {
        r.command for r in rules.session_allow if r.command and r.tool == classification.tool
    }
    return classification.command in exact


def _tool_allow(classification: Classification, rules: Rules) -> bool:
    tool = classification.tool
    named = tool in rules.allow or any(
        r.tool == tool and r.command is None for r in rules.session_allow
    )
    if not named:
        return False
    # A tool-wide allow of run_command covers ordinary commands, never destructive or shell ones.
    return tool != "run_command" or (
        classification.risk != "destructive" and not classification.needs_shell
    )


def decide(classification: Classification, mode: str, rules: Rules | None = None) -> Decision:
    """run / ask / deny for one classified call under an approval mode and operator rules."""
    if mode not in MODES:
        raise ToolError("bad_mode", f"approval mode {mode!r} is not one of {', '.join(MODES)}")
    rules = rules or Rules()
    if (pattern := _deny_match(classification, rules.deny)) is not None:
        return Decision("deny", f"denied by rule {pattern!r}")
    if mode == "none":
        return Decision("ask", "mode none: every call waits for the operator")
    if mode == "all":
        return Decision(
            "run", "mode all: everything runs", shell=classification.needs_shell, standing=True
        )
    if _exact_allow(classification, rules):
        return Decision(
            "run", "allowed by an exact rule", shell=classification.needs_shell, standing=True
        )
    if _tool_allow(classification, rules):
        return Decision("run", f"{classification.tool} is always allowed")
    if classification.risk == "read" and not classification.needs_shell:
        if classification.needs_person is None:
            return Decision("run", f"read-only: {classification.reason}")
        if mode == "read-only":
            return Decision("deny", f"read-only mode: not run ({classification.needs_person})")
        return Decision("ask", f"read: {classification.needs_person}")
    if mode == "read-only":
        return Decision(
            "deny", f"read-only mode: {classification.risk} call not run ({classification.reason})"
        )
    return Decision("ask", f"{classification.risk}: {classification.reason}")
