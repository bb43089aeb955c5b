"""A conversation pane: one session's transcript, rendered from its events as they arrive.

Each model call's answer streams into one live widget per frame and is drawn by Textual's
`Markdown` when it ends (see MarkdownFeed), in a scroll container anchored to the bottom;
thinking sits collapsed above it. Tool calls are cards; a budget cut-off is a marker where
it happened.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Collapsible, Static

from opscopilot import events as ev
from opscopilot.redact import redact
from opscopilot.tui.widgets.markdown_feed import MarkdownFeed
from opscopilot.tui.widgets.tool_card import UNSETTLED, ToolCard

MAX_TRANSCRIPT_CHILDREN = 400  # prune the oldest blocks beyond this, so long sessions stay fast
# Turns kept on screen: older ones leave it (and every reference to their widgets goes, so
# their Markdown is freed); the store keeps them, and F12 shows them again.
MAX_TURNS_SHOWN = 12
_CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)


class AnswerBlock(Vertical):
    """One model call's answer: collapsed thinking, then the streamed Markdown.

    Deltas are buffered and drawn once per frame into one live piece (see MarkdownFeed); a
    long answer continues in further `.answer-text` pieces at paragraph breaks, and its end
    is drawn by Textual's `Markdown` once the call finishes.
    """

    DEFAULT_CSS = """
    AnswerBlock { height: auto; margin: 0 0 1 0; }
    AnswerBlock > Collapsible { background: $surface; }
    AnswerBlock > .answer-meta { color: $text-muted; }
    """

    def __init__(self, call_id: str, model: str) -> None:
        super().__init__(classes="answer")
        self.call_id = call_id
        self.model = model
        self._meta = Static(model, classes="answer-meta", markup=False)
        self._answer = MarkdownFeed(self, classes="answer-text")
        self._thinking: MarkdownFeed | None = None

    def compose(self) -> ComposeResult:
        yield self._meta
        yield self._answer.segments[0]

    @property
    def text(self) -> str:
        return self._answer.text

    @property
    def thinking(self) -> str:
        return self._thinking.text if self._thinking else ""

    @property
    def markdown_source(self) -> str:
        """What the answer's Markdown blocks hold (all of `text` once a frame has passed)."""
        return self._answer.source

    def write(self, text: str) -> None:
        self._answer.write(text)

    async def write_thinking(self, text: str) -> None:
        if self._thinking is None:
            self._thinking = MarkdownFeed(self, classes="thinking-text")
            thinking = Collapsible(self._thinking.segments[0], title="thinking", collapsed=True)
            await self.mount(thinking, before=1)
        self._thinking.write(text)

    async def finish(self, note: str = "") -> None:
        """Flush what is buffered, stop the streams, and show how the call ended."""
        try:
            for feed in (self._answer, self._thinking):
                if feed is not None:
                    await feed.finish()
        finally:
            if note:
                self._meta.update(f"{self.model}  ·  {note}")

    def stop(self) -> None:
        """No more frames: the block leaves the screen."""
        for feed in (self._answer, self._thinking):
            if feed is not None:
                feed.stop()

    async def discard(self, reason: str) -> None:
        """A retry voids what streamed so far: clear it, say why (thinking stays)."""
        if self._thinking is not None:
            await self._thinking.finish()
        await self._answer.clear()
        self._meta.update(f"{self.model}  ·  retrying: {reason}")


class ConversationPane(Vertical, can_focus=True):
    """One session's transcript; the app routes that session's events here."""

    DEFAULT_CSS = """
    ConversationPane {
        border: round $panel-lighten-2;
        width: 1fr;
        height: 1fr;
    }
    ConversationPane.-active { border: round $primary; }
    ConversationPane > .pane-header { height: 1; color: $text-muted; padding: 0 1; }
    ConversationPane > VerticalScroll { height: 1fr; padding: 0 1; }
    ConversationPane .user-prompt { color: $accent; text-style: bold; margin: 1 0 0 0; }
    ConversationPane .cutoff {
        color: $meter-over; text-style: bold; border-left: thick $meter-over; padding: 0 1;
    }
    ConversationPane .turn-status { color: $text-muted; margin: 0 0 1 0; }
    ConversationPane .notice { color: $warning; }
    ConversationPane .empty-hint { color: $text-muted; margin: 1 0; }
    ConversationPane .earlier-turns { color: $text-muted; text-style: italic; display: none; }
    ConversationPane .earlier-turns.-shown { display: block; }
    """

    @dataclass
    class Activated(Message):
        """The operator focused this pane (it becomes the prompt's target)."""

        pane: ConversationPane

    def __init__(self, session_id: str, model: str, *, pane_id: str) -> None:
        super().__init__(id=pane_id)
        self.session_id = session_id
        self.model = model
        self.state = "ready"
        self.turn_id: str | None = None
        self.answers: dict[str, AnswerBlock] = {}
        self.tool_cards: dict[str, ToolCard] = {}
        self.turn_simulated = False  # a call of this turn was priced at builtin's demo rate
        self.border_title = model
        # Direct references: streaming must not query the DOM (it holds every Markdown block).
        self._header_line = Static(self._header(), classes="pane-header", markup=False)
        self._transcript = VerticalScroll(classes="transcript")
        self._last_answer: AnswerBlock | None = None
        self._last_tool: ToolCard | None = None
        self._last_tool_content = ""
        self._hint: Static | None = Static(_empty_hint(model), classes="empty-hint", markup=False)
        self._turn_starts: deque[Static] = deque()  # each shown turn's prompt line
        self.turns_hidden = 0  # turns that left the screen (still in the store)
        self._earlier = Static("", classes="earlier-turns", markup=False)

    def compose(self) -> ComposeResult:
        yield self._header_line
        with self._transcript:
            yield self._earlier
            if self._hint is not None:
                yield self._hint

    def on_mount(self) -> None:
        self._transcript.anchor()

    def on_focus(self) -> None:
        self.post_message(self.Activated(self))

    def _header(self) -> str:
        return f"{self.session_id}  ·  {self.state}"

    def set_model(self, model: str) -> None:
        self.model = model
        self.border_title = model
        if self._hint is not None:
            self._hint.update(_empty_hint(model))

    def _set_state(self, state: str) -> None:
        self.state = state
        self._header_line.update(self._header())

    @property
    def busy(self) -> bool:
        return self.state not in {"ready", "completed", "failed", "cut_off", "cancelled", "denied"}

    @property
    def cancellable(self) -> bool:
        """A turn of this pane is under way (started, not just asked for) and can be cancelled."""
        return self.busy and self.state != "starting"

    @property
    def last_answer_text(self) -> str:
        """The text of the answer that streamed last (what ctrl+y copies)."""
        return self._last_answer.text if self._last_answer else ""

    @property
    def last_tool_output(self) -> str:
        """The output of the tool call that ran last (what ctrl+t copies)."""
        if self._last_tool is None:
            return ""
        return self._last_tool.output or self._last_tool_content

    @property
    def last_code_block(self) -> str | None:
        blocks = _CODE_BLOCK.findall(self.last_answer_text)
        return blocks[-1] if blocks else None

    async def _add(self, widget: Static | Vertical) -> None:
        transcript = self._transcript
        if not transcript.is_attached:
            return  # the app is closing (an event still queued): nothing more is drawn
        await transcript.mount(widget)
        children = transcript.children  # [0] is the "earlier turns" line
        cut = len(children) - MAX_TRANSCRIPT_CHILDREN
        if len(self._turn_starts) > MAX_TURNS_SHOWN:
            cut = max(cut, children.index(self._turn_starts[-MAX_TURNS_SHOWN]) - 1)
        if cut > 0:
            await self._forget(list(children[1 : 1 + cut]))

    async def _forget(self, widgets: list) -> None:
        """Take the oldest blocks off the screen and drop every reference to them."""
        gone = {id(widget) for widget in widgets}
        starts = len(self._turn_starts)
        while self._turn_starts and id(self._turn_starts[0]) in gone:
            self._turn_starts.popleft()
        self.turns_hidden += starts - len(self._turn_starts)
        for block in [b for b in self.answers.values() if id(b) in gone]:
            block.stop()  # no frame is drawn into it once it goes
        self.answers = {k: b for k, b in self.answers.items() if id(b) not in gone}
        self.tool_cards = {k: c for k, c in self.tool_cards.items() if id(c) not in gone}
        if self._last_answer is not None and id(self._last_answer) in gone:
            self._last_answer = None
        if self._last_tool is not None and id(self._last_tool) in gone:
            self._last_tool = None
        nodes = [node for widget in widgets for node in (widget, *widget.walk_children())]
        await self._transcript.remove_children(widgets)
        # Textual's lru_cache on StylesCache.get_inner_outer keeps the caches of up to 1,024
        # removed widgets alive: drop the drawn lines they hold, so memory is the screen's.
        for node in nodes:
            node._styles_cache.clear()
        if self.turns_hidden:
            self._earlier.update(
                f"▲ {self.turns_hidden} earlier turns are kept in the store (F12 shows them)"
            )
            self._earlier.add_class("-shown")

    async def add_note(self, text: str, classes: str = "notice") -> None:
        await self._add(Static(redact(text), classes=classes, markup=False))

    async def handle(self, event: ev.Event) -> None:
        """Render one event of this pane's session."""
        if self._hint is not None:  # the first event replaces the "what to ask" hint
            hint, self._hint = self._hint, None
            await hint.remove()
        if isinstance(event, ev.ModelText):  # the hot path: buffered, drawn once per frame
            if block := await self._answer(event.call_id):
                block.write(event.text)
                self._last_answer = block
        elif isinstance(event, ev.ToolOutput):
            if card := self.tool_cards.get(event.tool_call_id):
                card.append_output(event.text)
                self._last_tool = card
        elif isinstance(event, ev.TurnStarted):
            self.turn_id = event.turn_id
            self.turn_simulated = False
            start = Static(f"› {event.prompt}", classes="user-prompt", markup=False)
            self._turn_starts.append(start)
            await self._add(start)
            self._set_state("calling_model")
        elif isinstance(event, ev.TurnStateChanged):
            self._set_state(event.state)
        elif isinstance(event, ev.ModelCallStarted):
            block = AnswerBlock(event.call_id, f"{event.provider}:{event.model}")
            self.answers[event.call_id] = block
            await self._add(block)
        elif isinstance(event, ev.ModelThinking):
            if block := await self._answer(event.call_id):
                await block.write_thinking(event.text)
        elif isinstance(event, ev.ModelRetry):
            if event.discarded_output and (block := self.answers.get(event.call_id)):
                await block.discard(event.reason)
        elif isinstance(event, ev.ModelFinished):
            self.turn_simulated = self.turn_simulated or event.cost_simulated
            if block := self.answers.get(event.call_id):
                await block.finish(_finish_note(event))
        elif isinstance(event, ev.ModelToolCall):
            await self._card(event.tool_call_id, event.name, event.arguments)
        elif isinstance(event, ev.ToolProposed):
            card = await self._card(event.tool_call_id, event.name, event.arguments)
            card.set_risk(event.risk)
        elif isinstance(event, ev.ApprovalRequested):
            card = await self._card(event.tool_call_id, event.name, event.arguments)
            card.set_risk(event.risk)
            card.set_status("awaiting")
            card.approval_id = event.approval_id
            self._set_state("awaiting_approval")
        elif isinstance(event, ev.ApprovalDecided):
            for card in self.tool_cards.values():
                if card.approval_id == event.approval_id:
                    card.set_status(event.decision)
                    if event.arguments is not None:
                        card.set_arguments(event.arguments)
        elif isinstance(event, ev.ToolStarted):
            card = await self._card(event.tool_call_id, event.name, event.arguments)
            card.set_arguments(event.arguments)
            card.set_status("running")
        elif isinstance(event, ev.ToolFinished):
            card = await self._card(event.tool_call_id, event.name, {})
            card.set_final_content(event.content)
            card.set_status(event.status, event.duration_s)
            self._last_tool, self._last_tool_content = card, event.content
        elif isinstance(event, ev.BudgetCutoff):
            await self.add_note(
                f"✂ cut off here: {event.scope} cap ${event.cap_usd:.4f} "
                f"reached (spent ${event.spent_usd:.4f})",
                classes="cutoff",
            )
        elif isinstance(event, ev.TurnFinished):
            await self._finish_open_answers()
            for card in self.tool_cards.values():
                if card.status in UNSETTLED:  # cancelled (or cut off) before it ran
                    card.set_status("not_run")
            self._set_state(event.status)
            note = f"turn {event.status}"
            if event.cost_usd is not None:
                note += f"  ·  ${event.cost_usd:.4f}" + (
                    " (simulated)" if self.turn_simulated else ""
                )
            if event.error is not None:
                note += f"  ·  {event.error.kind}: {event.error.message}"
            await self.add_note(note, classes="turn-status")
        elif isinstance(event, ev.Notice) and event.level != "info":
            await self.add_note(f"{event.level}: {event.message}")

    async def _answer(self, call_id: str) -> AnswerBlock | None:
        block = self.answers.get(call_id)
        if block is None:  # text without a start (e.g. a replayed fragment): still show it
            block = self.answers[call_id] = AnswerBlock(call_id, self.model)
            await self._add(block)
        return block

    async def _card(self, tool_call_id: str, name: str, arguments: dict) -> ToolCard:
        card = self.tool_cards.get(tool_call_id)
        if card is None:
            card = self.tool_cards[tool_call_id] = ToolCard(tool_call_id, name, arguments)
            await self._add(card)
        return card

    async def _finish_open_answers(self) -> None:
        for block in self.answers.values():
            await block.finish()

    async def close_streams(self) -> None:
        """The pane goes: its answers draw nothing more."""
        for block in self.answers.values():
            block.stop()


def _finish_note(event: ev.ModelFinished) -> str:
    parts = [event.finish_reason]
    if event.usage.output_tokens:
        parts.append(f"{event.usage.input_tokens}→{event.usage.output_tokens} tok")
    if event.cost_usd is not None:
        parts.append(f"${event.cost_usd:.4f}" + (" (simulated)" if event.cost_simulated else ""))
    elif event.usage.input_tokens or event.usage.output_tokens:
        parts.append("cost unknown")
    if event.error is not None:
        parts.append(f"{event.error.kind}: {redact(event.error.message)}")
    return "  ·  ".join(parts)


def _empty_hint(model: str) -> str:
    """What an empty pane says, so a first look shows what to try."""
    if model.startswith("builtin:"):
        return (
            'Ask about this machine, e.g. "how full are the disks?" or "why is the load '
            'high?" — builtin:ops runs read-only checks and summarises them. A change such as '
            '"restart nginx" waits for your approval (F5). F1 lists every key.'
        )
    return (
        f"Ask {model} about a live system. Read-only tool calls run; anything that changes "
        "something waits for your approval (F5). F1 lists every key."
    )
