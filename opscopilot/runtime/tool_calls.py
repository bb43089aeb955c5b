"""Executing the tool directives: classify proposed calls, request approvals, run tools.

Classification goes through opscopilot.tools (by parsing the arguments, never by the
model's label) and is handed to the pure core as an action. Every run is journaled: the
intent before it starts, the result after; a run whose intent is already there is never
started again (its result is reused, or the core hears that its outcome is unknown).
`ToolCaller` is handed the store, the toolbox, the clock and the notifier; it never reaches
back to the Runtime.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opscopilot import events as ev
from opscopilot.agent import (
    Action,
    CallClassification,
    ClassifyTools,
    RequestApproval,
    RunTool,
    ToolFinished,
    ToolOutcomeUnknown,
    ToolsClassified,
)
from opscopilot.redact import MASK, redact

from .live import io

if TYPE_CHECKING:
    from opscopilot.store import Store

    from .live import LiveTurn
    from .toolbox import Toolbox


def _nothing_said(exit_code: int | None) -> str:
    """What the model reads for a call that printed nothing: success is not silence."""
    return "(no output)" if exit_code is None else f"(no output, exit {exit_code})"


class ToolCaller:
    """Classifies, asks about and runs the tool calls of every turn of one runtime."""

    def __init__(
        self,
        store: Store,
        toolbox: Toolbox,
        *,
        clock: Callable[[], float],
        notifier: Any = None,
    ) -> None:
        self.store = store
        self.toolbox = toolbox
        self.clock = clock
        self.notifier = notifier  # [notify]: tells someone when an approval is requested

    async def classify(self, live: LiveTurn, directive: ClassifyTools) -> Action:
        """The policy's verdict on each proposed call, with the session's always-allow rules."""
        from opscopilot.tools import ToolError, call_hash, sandbox

        state = live.state
        rules = await io(self.toolbox.rules, state.session_id)
        verdicts = []
        for call in directive.calls:
            digest = call_hash(call.name, call.arguments)
            try:
                tool = self.toolbox.get(call.name)
                tool.validate(call.arguments)
                classification = self.toolbox.classify(call.name, call.arguments)
                decision = self.toolbox.decide(classification, state.approve_mode, rules)
                decision = sandbox.gate(decision, tool)
                verdicts.append(
                    CallClassification(
                        tool_call_id=call.id,
                        risk=classification.risk,
                        decision=decision.action,
                        reason=redact(decision.reason or classification.reason),
                        call_hash=digest,
                        shell_by_rule=bool(getattr(decision, "shell", False)),
                        standing_rule=bool(getattr(decision, "standing", False)),
                    )
                )
            except ToolError as exc:
                # An unknown tool or arguments that do not fit: the model's mistake, told to it.
                verdicts.append(
                    CallClassification(
                        tool_call_id=call.id,
                        risk="destructive",
                        decision="deny",
                        reason=redact(str(exc)),
                        call_hash=digest,
                        unusable=redact(str(exc)),
                    )
                )
        return ToolsClassified(classifications=tuple(verdicts), now=self.clock())

    async def request_approval(self, live: LiveTurn, directive: RequestApproval) -> None:
        """Store the request (once: a resumed turn re-issues it) and announce it."""
        from opscopilot.store import ApprovalRecord, StoreError

        state = live.state
        existing = await io(self.store.get_approval, directive.approval_id)
        if existing is not None:
            return
        now = self.clock()
        record = ApprovalRecord(
            id=directive.approval_id,
            session_id=state.session_id,
            turn_id=state.turn_id,
            tool_call_id=directive.tool_call_id,
            tool=directive.name,
            arguments=directive.arguments,
            risk=directive.risk,
            reason=directive.reason,
            call_hash=directive.call_hash,
            requested_at=now,
        )
        try:
            record = await io(self.store.create_approval, record)
        except StoreError as exc:
            if exc.kind != "conflict":
                raise
            return
        live.publish(
            ev.ApprovalRequested(
                ts=now,
                session_id=state.session_id,
                turn_id=state.turn_id,
                approval_id=directive.approval_id,
                tool_call_id=directive.tool_call_id,
                name=directive.name,
                arguments=directive.arguments,
                risk=directive.risk,
                reason=directive.reason,
            )
        )
        if self.notifier is not None:
            self.notifier.approval_requested(record)

    async def run(self, live: LiveTurn, directive: RunTool) -> Action:
        """Run one approved call exactly once, journaled around it."""
        from opscopilot.tools import ToolError, call_hash, sandbox

        state = live.state
        store = self.store
        payload = {
            "tool_call_id": directive.tool_call_id,
            "tool": directive.name,
            "arguments": directive.arguments,
            "call_hash": directive.call_hash,
            "risk": directive.risk,
            "approved_shell": directive.approved_shell,
            "confined": directive.confined,
        }
        fresh = await io(
            store.journal_intent, state.turn_id, directive.run_id, "tool_run", payload, self.clock()
        )
        if not fresh:
            entry = await io(store.journal_entry, directive.run_id)
            if entry is not None and entry.finished and entry.result is not None:
                return ToolFinished(
                    run_id=directive.run_id,
                    status=entry.result["status"],
                    content=entry.result.get("content", ""),
                    now=self.clock(),
                    duration_s=entry.result.get("duration_s", 0.0),
                )
            return ToolOutcomeUnknown(run_id=directive.run_id, now=self.clock())

        started = time.monotonic()
        result: dict[str, Any]
        # The core already checked the grounds; this second look means a bug there cannot run
        # arguments nobody approved.
        if call_hash(directive.name, directive.arguments) != directive.call_hash:
            held_secret = MASK in json.dumps(directive.arguments, ensure_ascii=False)
            result = {
                "status": "error",
                "content": (
                    "Refused: its arguments held a secret, which is never stored, so the call "
                    "cannot run after a pause; ask again without the secret in the arguments."
                    if held_secret
                    else "Refused: the arguments are not the ones that were approved."
                ),
                "exit_code": None,
                "duration_s": 0.0,
            }
        else:
            live.publish(
                ev.ToolStarted(
                    ts=self.clock(),
                    session_id=state.session_id,
                    turn_id=state.turn_id,
                    tool_call_id=directive.tool_call_id,
                    name=directive.name,
                    arguments=directive.arguments,
                )
            )

            def on_output(stream: str, text: str) -> None:
                live.publish(
                    ev.ToolOutput(
                        ts=self.clock(),
                        session_id=state.session_id,
                        turn_id=state.turn_id,
                        tool_call_id=directive.tool_call_id,
                        stream="stderr" if stream == "stderr" else "stdout",
                        text=redact(text),
                    )
                )

            try:
                tool = self.toolbox.get(directive.name)
                arguments = tool.validate(directive.arguments)
                with sandbox.confined(
                    directive.confined
                ):  # unattended: every program in the sandbox
                    outcome = await tool.run(
                        arguments, on_output=on_output, approved_shell=directive.approved_shell
                    )
                result = {
                    "status": outcome.status,
                    "content": redact(outcome.content) or _nothing_said(outcome.exit_code),
                    "exit_code": outcome.exit_code,
                    "duration_s": outcome.duration_s,
                }
            except ToolError as exc:
                result = {
                    "status": "error",
                    "content": redact(str(exc)),
                    "exit_code": None,
                    "duration_s": time.monotonic() - started,
                }
        await io(
            store.journal_result,
            directive.run_id,
            status=result["status"],
            result=result,
            finished_at=self.clock(),
        )
        return ToolFinished(
            run_id=directive.run_id,
            status=result["status"],
            content=result["content"],
            now=self.clock(),
            duration_s=float(result.get("duration_s") or 0.0),
        )
