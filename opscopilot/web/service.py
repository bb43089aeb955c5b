"""What the page and the JSON API both do: list pending approvals with their context, decide one.

Decisions go through the store exactly as `opscopilot approvals approve|deny` do (one atomic
write that loses cleanly to a decision made elsewhere), with edited arguments checked against
the tool's own schema first, and record the operator, channel web and the client's address.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opscopilot.store import ApprovalRecord, Store

LAST_WORDS_CHARS = 600


class WebError(Exception):
    """A request that cannot be done: `status` is the HTTP answer, the message one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class PendingApproval:
    """One approval with what an operator needs to judge it away from the terminal."""

    record: ApprovalRecord
    age_s: float
    session_title: str
    prompt: str
    last_words: str

    def document(self) -> dict[str, Any]:
        return {
            **self.record.model_dump(mode="json"),
            "age_s": round(self.age_s, 1),
            "session_title": self.session_title,
            "prompt": self.prompt,
            "last_words": self.last_words,
        }


def document(record: ApprovalRecord) -> dict[str, Any]:
    """An approval as `opscopilot approvals show ID --json` prints it."""
    return record.model_dump(mode="json")


def _last_words(store: Store, record: ApprovalRecord) -> str:
    """The model's text just before it asked for this call (its last assistant message's text)."""
    from opscopilot.llm.types import TextPart

    for message in reversed(store.messages(record.session_id, turn_id=record.turn_id)):
        if message.role != "assistant":
            continue
        text = "".join(p.text for p in message.parts if isinstance(p, TextPart)).strip()
        if text:
            return text[-LAST_WORDS_CHARS:]
    turn = store.get_turn(record.turn_id)
    return (turn.text if turn else "")[-LAST_WORDS_CHARS:]


def with_context(store: Store, record: ApprovalRecord, now: float) -> PendingApproval:
    session = store.get_session(record.session_id)
    turn = store.get_turn(record.turn_id)
    return PendingApproval(
        record=record,
        age_s=max(0.0, now - record.requested_at),
        session_title=session.title if session else "",
        prompt=turn.prompt if turn else "",
        last_words=_last_words(store, record),
    )


def pending(store: Store, now: float | None = None) -> list[PendingApproval]:
    now = time.time() if now is None else now
    return [with_context(store, r, now) for r in store.list_approvals(status="pending", now=now)]


def get(store: Store, approval_id: str, now: float | None = None) -> ApprovalRecord:
    record = store.get_approval(approval_id)
    if record is None:
        raise WebError(404, f"no approval {approval_id}")
    return record.as_of(time.time() if now is None else now)


def validate_arguments(tool: str, arguments: Any) -> dict[str, Any]:
    """Edited arguments checked against the tool's schema (as `approvals approve --args` does)."""
    from opscopilot import config
    from opscopilot.tools import ToolError, ToolRegistry

    if not isinstance(arguments, dict):
        raise WebError(400, "args must be a JSON object of the tool's arguments")
    try:
        ToolRegistry.default(config.config()).get(tool).validate(arguments)
    except ToolError as exc:
        raise WebError(400, f"args: {exc}") from None
    return arguments


def decide(
    store: Store,
    approval_id: str,
    decision: str,
    *,
    operator: str,
    client: str,
    reason: str = "",
    arguments: dict[str, Any] | None = None,
) -> ApprovalRecord:
    """Record a decision made on the web; WebError 404/409/400 when it cannot be made."""
    from opscopilot.store import StoreError

    now = time.time()
    record = get(store, approval_id, now)
    if record.status != "pending":
        raise WebError(409, f"approval {approval_id} is already {record.status}")
    if arguments is not None:
        arguments = validate_arguments(record.tool, arguments)
        if arguments == record.arguments:
            arguments = None  # unchanged: a plain approval, bound to the original call
    try:
        decided = store.decide_approval(
            approval_id,
            decision=decision,  # type: ignore[arg-type]
            operator=operator,
            host=client,
            reason=reason,
            arguments=arguments,
            decided_at=now,
            channel="web",
        )
    except StoreError as exc:
        status = {"not_found": 404, "conflict": 409}.get(exc.kind, 500)
        raise WebError(status, str(exc)) from None
    if decided.status == "expired":
        raise WebError(409, f"approval {approval_id} expired before the decision")
    return decided
