"""The pending reviews panel: every pending approval across sessions and processes.

The list only shows and selects; decisions go up as messages and the app's workers record
them, so the panel never touches the store. It holds the oldest REVIEW_LIMIT approvals and
says how many more there are; a poll changes only the options that changed, and the ages
tick by replacing the prompts of the options on screen, so an idle panel costs the same
with 10 or 10,000 pending.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from opscopilot.tui.engine import ApprovalView
from opscopilot.tui.widgets.tool_card import RISK_MARKS, format_arguments

REVIEW_LIMIT = 100  # approvals the panel holds, oldest first


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ReviewList(OptionList):
    """Pending approvals; keys decide the highlighted one."""

    BINDINGS = [
        Binding("a", "approve", "Approve", id="review.approve"),
        Binding("d", "deny", "Deny", id="review.deny"),
        Binding("e", "edit", "Edit args", id="review.edit"),
        Binding("A", "always_allow", "Always allow", id="review.always"),
        Binding("j", "cursor_down", "Next", show=False, id="review.next"),
        Binding("k", "cursor_up", "Previous", show=False, id="review.previous"),
    ]

    @dataclass
    class Chosen(Message):
        """The operator pressed a decision key on an approval."""

        action: str  # approve | deny | edit | always_allow
        approval: ApprovalView

    def __init__(self) -> None:
        super().__init__(id="review-list")
        self.approvals: list[ApprovalView] = []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"approve", "deny", "edit", "always_allow"}:
            return self.selected_approval is not None
        return True

    @property
    def selected_approval(self) -> ApprovalView | None:
        if self.highlighted is None or not self.approvals:
            return None
        if 0 <= self.highlighted < len(self.approvals):
            return self.approvals[self.highlighted]
        return None

    def show(self, approvals: list[ApprovalView], now: float) -> None:
        """Bring the list to `approvals` with as few changes as it takes: decided ones go,
        new ones are added at the end (only an unusual reorder rebuilds), and the highlight
        stays on the same approval when it is still there."""
        previous = self.selected_approval
        new_ids = [a.id for a in approvals]
        if new_ids == [a.id for a in self.approvals]:
            self.approvals = list(approvals)
            return  # nothing came or went: the ages tick in `refresh_ages`
        keep = set(new_ids)
        for gone in [a.id for a in self.approvals if a.id not in keep]:
            self.remove_option(gone)
        kept = [a.id for a in self.approvals if a.id in keep]
        if new_ids[: len(kept)] == kept:
            self.add_options([Option(_render(a, now), id=a.id) for a in approvals[len(kept) :]])
        else:
            self.clear_options()
            self.add_options([Option(_render(a, now), id=a.id) for a in approvals])
        self.approvals = list(approvals)
        if approvals:
            self.highlighted = new_ids.index(previous.id) if previous and previous.id in keep else 0
        self.refresh_bindings()

    def refresh_ages(self, now: float) -> None:
        """Re-render the options in view (their ages), leaving the rest alone."""
        if not self.approvals:
            return
        top = int(self.scroll_offset.y)
        lines = self._lines
        if not lines:
            return
        first = lines[min(top, len(lines) - 1)][0]
        last = lines[min(top + max(self.size.height, 1), len(lines)) - 1][0]
        for index in range(first, min(last + 1, len(self.approvals))):
            prompt = _render(self.approvals[index], now)
            shown = self.get_option_at_index(index).prompt
            if not isinstance(shown, Text) or shown.plain != prompt.plain:
                self.replace_option_prompt_at_index(index, prompt)  # its age moved on

    def _choose(self, action: str) -> None:
        if (approval := self.selected_approval) is not None:
            self.post_message(self.Chosen(action, approval))

    def action_approve(self) -> None:
        self._choose("approve")

    def action_deny(self) -> None:
        self._choose("deny")

    def action_edit(self) -> None:
        self._choose("edit")

    def action_always_allow(self) -> None:
        self._choose("always_allow")


def _render(approval: ApprovalView, now: float) -> Text:
    text = Text()
    risk_style = {"read": "green", "write": "yellow", "destructive": "bold red"}.get(
        approval.risk, ""
    )
    text.append(f"{RISK_MARKS.get(approval.risk, approval.risk):<15}", style=risk_style)
    text.append(f" {approval.tool}", style="bold")
    text.append(f"  {format_arguments(approval.arguments, limit=80)}")
    text.append(f"  {format_age(now - approval.requested_at)} ago", style="dim")
    text.append(f"  {approval.session_id}", style="dim italic")
    return text


HINTS = (
    ("review.approve", "a", "approve"),
    ("review.deny", "d", "deny"),
    ("review.edit", "e", "edit args"),
    ("review.always", "A", "always allow"),
)


def review_hint(keymap: dict[str, str]) -> str:
    """The panel's key line, with the keys the operator mapped in `[keys]` (F1 lists ids)."""
    parts = [f"{keymap.get(binding_id, key)} {what}" for binding_id, key, what in HINTS]
    moves = f"{keymap.get('review.next', 'j')}/{keymap.get('review.previous', 'k')} move"
    return " · ".join([*parts, moves, "esc back"])


class ReviewsPanel(Vertical):
    """Title with the count, and the list."""

    DEFAULT_CSS = """
    ReviewsPanel { height: auto; max-height: 12; border: round $warning; display: none; }
    ReviewsPanel.-has-pending { display: block; }
    ReviewsPanel > OptionList { height: auto; max-height: 9; border: none; }
    ReviewsPanel > .review-help { color: $text-muted; height: 1; }
    ReviewsPanel > .review-more { color: $text-muted; height: 1; display: none; }
    ReviewsPanel > .review-more.-shown { display: block; }
    """

    _hint = ""

    def compose(self) -> ComposeResult:
        yield ReviewList()
        yield Static("", classes="review-more")
        yield Static(review_hint({}), classes="review-help", markup=False)

    def show(self, approvals: list[ApprovalView], now: float, *, total: int | None = None) -> None:
        """The oldest pending approvals; `total` counts them all when there are more."""
        total = len(approvals) if total is None else total
        self.border_title = f"pending reviews ({total})"
        hint = review_hint(getattr(self.app, "keymap", {}))
        if hint != self._hint:  # the keymap is read as the app mounts, after compose
            self._hint = hint
            self.query_one(".review-help", Static).update(hint)
        self.set_class(bool(approvals), "-has-pending")
        self.query_one(ReviewList).show(approvals, now)
        more = self.query_one(".review-more", Static)
        hidden = total - len(approvals)
        more.set_class(hidden > 0, "-shown")
        if hidden > 0:
            more.update(
                f"… {hidden} more, newer: decide these first, or `opscopilot approvals list` "
                f"--after {approvals[-1].id}"
            )

    def refresh_ages(self, now: float) -> None:
        self.query_one(ReviewList).refresh_ages(now)
