"""The app's approval flow: poll pending approvals, alert on new ones, record decisions, and
resume the paused turn in its pane. A mixin of OpsCopilotApp, kept apart for size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from textual import work
from textual.message import Message
from textual.widgets import Static

from opscopilot.tui.engine import ApprovalView, Decision
from opscopilot.tui.widgets.reviews import REVIEW_LIMIT, ReviewList, ReviewsPanel

if TYPE_CHECKING:
    from opscopilot.tui.app import OpsCopilotApp


@dataclass
class ApprovalsPolled(Message):
    """The oldest pending approvals (at most REVIEW_LIMIT) and how many are pending in all."""

    approvals: list[ApprovalView]
    total: int | None = None  # None: `approvals` is all of them


@dataclass
class DecisionRecorded(Message):
    """A decision was stored; `resume` when its turn has nothing else pending."""

    approval: ApprovalView
    decision: Decision
    resume: bool


class ApprovalFlow:
    """Mixin: pending reviews panel behaviour (needs OpsCopilotApp's engine and widgets).

    Handlers use `on_<message>` names, not `@on`: Textual collects `@on` handlers only from
    classes its metaclass builds, and this mixin is a plain class.
    """

    pending: list[ApprovalView]

    def _init_approval_flow(self) -> None:
        self.pending = []
        # What alerts have covered: the newest request seen, and the count then (O(1), so a
        # new approval beyond the panel's page still rings).
        self._newest_seen = float("-inf")
        self._total_seen = 0
        self._polled_once = False

    # --- polling ----------------------------------------------------------------------

    @work(thread=True, group="poll", exclusive=True, exit_on_error=False)
    def poll_approvals(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        self.post_message(self._polled())

    def _polled(self: OpsCopilotApp) -> ApprovalsPolled:  # type: ignore[misc]
        """Blocking: the panel's page of pending approvals, and the count of all."""
        page = self.engine.pending_approvals(limit=REVIEW_LIMIT)
        total = self.engine.pending_count() if len(page) == REVIEW_LIMIT else len(page)
        return ApprovalsPolled(page, total)

    def on_approvals_polled(self: OpsCopilotApp, message: ApprovalsPolled) -> None:  # type: ignore[misc]
        approvals = sorted(message.approvals, key=lambda a: (a.requested_at, a.id))
        total = len(approvals) if message.total is None else message.total
        new = [a for a in approvals if a.requested_at > self._newest_seen]
        unseen = total > len(approvals) and total > self._total_seen  # beyond the page
        self._newest_seen = max([self._newest_seen, *(a.requested_at for a in approvals)])
        unchanged = total == self._total_seen and [a.id for a in approvals] == [
            a.id for a in self.pending
        ]
        self._total_seen = total
        self.pending = approvals
        if not self.is_running or not self.screen_stack:
            return  # a poll that finished while the app closed
        if unchanged and self._polled_once:
            return  # an idle poll redraws nothing (the ages tick on their own timer)
        self._polled_once = True
        self.main_screen.query_one(ReviewsPanel).show(approvals, self.clock(), total=total)
        title = self.main_screen.query_one("#title", Static)
        if approvals:
            title.update(f"opscopilot ● {total} pending")
            self.title = f"({total}) opscopilot: approval pending"
        else:
            title.update("opscopilot")
            self.title = "opscopilot"
        title.set_class(bool(approvals), "-alert")
        if new or unseen:
            self.alerts += 1
            self.bell()  # reaches the operator even when focus is elsewhere
            self.notify(
                f"{new[-1].tool} ({new[-1].risk}) needs approval: F5 to review"
                if new
                else f"{total} approvals pending: F5 to review the oldest",
                title="approval pending",
                severity="warning",
            )
        self.refresh_bindings()

    def _refresh_review_ages(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        if self.pending:
            self.main_screen.query_one(ReviewsPanel).refresh_ages(self.clock())

    def action_focus_reviews(self: OpsCopilotApp) -> None:  # type: ignore[misc]
        if self.pending:
            self.main_screen.query_one(ReviewList).focus()

    # --- decisions --------------------------------------------------------------------

    def _selected(self: OpsCopilotApp) -> ApprovalView | None:  # type: ignore[misc]
        return self.main_screen.query_one(ReviewList).selected_approval

    def action_review_approve(self) -> None:
        if approval := self._selected():
            self._choose(approval, "approve")

    def action_review_deny(self) -> None:
        if approval := self._selected():
            self._choose(approval, "deny")

    def action_review_edit(self) -> None:
        if approval := self._selected():
            self._choose(approval, "edit")

    def action_review_always_allow(self) -> None:
        if approval := self._selected():
            self._choose(approval, "always_allow")

    def on_review_list_chosen(self, message: ReviewList.Chosen) -> None:
        self._choose(message.approval, message.action)

    def _choose(self: OpsCopilotApp, approval: ApprovalView, action: str) -> None:  # type: ignore[misc]
        if action == "approve":
            self.record_decision(approval, "approved")
        elif action == "always_allow":
            self.record_decision(approval, "approved", allow_always=True)
        elif action == "deny":
            from opscopilot.tui.screens.dialogs import DenyReasonScreen

            def denied(reason: str | None) -> None:
                if reason is not None:
                    self.record_decision(approval, "denied", reason=reason)

            self.push_screen(DenyReasonScreen(approval), denied)
        elif action == "edit":
            from opscopilot.tui.screens.dialogs import EditArgumentsScreen

            def edited(arguments: dict[str, Any] | None) -> None:
                if arguments is not None:
                    self.record_decision(approval, "approved", arguments=arguments)

            self.push_screen(EditArgumentsScreen(approval, self.engine.validate_arguments), edited)

    @work(group="decide", exit_on_error=False)
    async def record_decision(  # type: ignore[misc]
        self: OpsCopilotApp,
        approval: ApprovalView,
        decision: Decision,
        *,
        reason: str = "",
        arguments: dict[str, Any] | None = None,
        allow_always: bool = False,
    ) -> None:
        if allow_always:
            command = approval.arguments.get("command") if approval.tool == "run_command" else None
            await self.engine.allow_always(approval.session_id, approval.tool, command)
        await self.engine.decide(approval.id, decision, reason=reason, arguments=arguments)
        self.post_message(await anyio.to_thread.run_sync(self._polled))
        turn_id = approval.turn_id
        still_waiting = bool(
            await anyio.to_thread.run_sync(lambda: self.engine.pending_approvals(turn_id=turn_id))
        )
        self.post_message(DecisionRecorded(approval, decision, resume=not still_waiting))

    async def on_decision_recorded(self: OpsCopilotApp, message: DecisionRecorded) -> None:  # type: ignore[misc]
        if not self.is_running or not self.screen_stack:
            return  # a decision that landed while the app closed
        approval = message.approval
        pane = self.pane_for(approval.session_id)
        if pane is not None and (card := pane.tool_cards.get(approval.tool_call_id)):
            card.set_status(message.decision)
        self.notify(f"{approval.tool}: {message.decision}", timeout=2)
        if message.resume:
            self.resume_turn(approval.turn_id)
        if not self.pending:
            self.action_focus_prompt()
