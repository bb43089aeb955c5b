"""`opscopilot run TEXT` and `opscopilot resume TURN_ID`: an agent turn from the shell.

Text mode streams the answer to stdout and tool activity to stderr as it happens; `--json`
prints one object at the end. Exit codes (DESIGN.md): 0 done, 1 failed, 2 usage, 3 paused
waiting for approval, 4 stopped by a budget cap.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TextIO

import click

from opscopilot.cli.completion import complete_models, complete_sessions

if TYPE_CHECKING:
    from opscopilot.events import Event
    from opscopilot.replay.live import SessionRecorder
    from opscopilot.runtime import Runtime, TurnOutcome

EXIT_FAILED = 1
EXIT_USAGE = 2
MODES = ("ask", "read-only", "all", "none")
OUTPUT_LINES_SHOWN = 20  # per tool call in text mode; the model still gets all of it


class TurnPrinter:
    """Renders runtime events readably: answer text to stdout, activity to stderr."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        from opscopilot.redact import StreamRedactor

        self.out = out
        self.err = err
        self.text_call: str | None = None
        self.at_line_start = True
        self.output_lines: dict[str, int] = {}
        self.simulated = False  # a call was priced at a demo rate (builtin:ops): no money spent
        self.text = StreamRedactor()  # a key streamed in pieces is masked whole on stdout

    def note(self, line: str) -> None:
        from opscopilot.redact import redact

        self._end_text_line()
        self.err.write(redact(line) + "\n")
        self.err.flush()

    def _write_text(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self.at_line_start = text.endswith("\n")

    def _end_text_line(self) -> None:
        self._write_text(self.text.flush())
        if not self.at_line_start:
            self.out.write("\n")
            self.out.flush()
            self.at_line_start = True

    def event(self, event: Event) -> None:
        kind = event.type
        if kind == "model.finished" and (event.cost_simulated or event.provider == "builtin"):
            self.simulated = True
        if kind == "model.text":
            if self.text_call not in (None, event.call_id):
                self._write_text(self.text.flush())
                if not self.at_line_start:
                    self.out.write("\n")
            self.text_call = event.call_id
            self._write_text(self.text.feed(event.text))
        elif kind == "model.retry":
            self.note(f"… retrying (try {event.attempt}) in {event.delay_s:.1f}s: {event.reason}")
        elif kind == "tool.started":
            self.note(f"→ {event.name} {_args(event.arguments)}")
        elif kind == "tool.output":
            seen = self.output_lines.get(event.tool_call_id, 0)
            self.output_lines[event.tool_call_id] = seen + 1
            if seen < OUTPUT_LINES_SHOWN:
                self.note(f"  │ {event.text.rstrip()}")
            elif seen == OUTPUT_LINES_SHOWN:
                self.note("  │ …")
        elif kind == "tool.finished":
            mark = "✓" if event.status == "ok" else "✗"
            detail = f" ({event.duration_s:.1f}s)" if event.status != "denied" else ""
            self.note(f"{mark} {event.name} {event.status}{detail}")
            if event.status == "denied":
                self.note(f"  {event.content}")
        elif kind == "approval.requested":
            self.note(
                f"⏸ approval needed [{event.approval_id}] {event.name} "
                f"{_args(event.arguments)} — {event.risk}: {event.reason}"
            )
        elif kind == "approval.decided":
            who = f" by {event.operator}" if event.operator else ""
            self.note(f"  {event.approval_id} {event.decision}{who}")
        elif kind in ("budget.warning", "budget.cutoff"):
            word = "cut off" if kind == "budget.cutoff" else "warning"
            self.note(
                f"budget {word}: ${event.spent_usd:.4f} of ${event.cap_usd:.4f} ({event.scope})"
            )
        elif kind == "notice" and event.level != "info":
            self.note(f"{event.level}: {event.message}")

    def finish(self, outcome: TurnOutcome) -> None:
        self._end_text_line()
        if outcome.status == "awaiting_approval":
            self.out.write(
                f"paused: turn {outcome.turn_id} waits for approval of "
                f"{', '.join(outcome.pending_approvals)}\n"
            )
            for approval_id in outcome.pending_approvals:
                self.out.write(
                    f"  opscopilot approvals approve {approval_id}   "
                    f"(or: opscopilot approvals deny {approval_id})\n"
                )
            self.out.write(f"  then: opscopilot resume {outcome.turn_id}\n")
            self.out.flush()
        cost = "cost unknown" if outcome.cost_usd is None else f"${outcome.cost_usd:.4f}"
        if outcome.cost_usd is not None and self.simulated:
            cost += " (simulated)"
        usage = outcome.usage
        summary = (
            f"{outcome.status} · turn {outcome.turn_id} · {usage.input_tokens} in / "
            f"{usage.output_tokens} out tokens · {cost}"
        )
        if outcome.status not in ("completed", "awaiting_approval") and outcome.reason:
            summary += f" · {outcome.reason}"
        self.note(summary)


def _args(arguments: dict[str, Any]) -> str:
    if set(arguments) == {"command"}:
        return str(arguments["command"])
    return json.dumps(arguments, ensure_ascii=False)


def _execute(
    start: Callable[[Runtime], Awaitable[TurnOutcome]],
    as_json: bool,
    record: str | None = None,
    *,
    owner_kind: str = "run",
) -> None:
    """Open the store and a runtime, drive the turn while printing, exit with its code.

    `record` is the --record option: None (not given), "" (the default file) or a path.
    `owner_kind` is how the turn's owner row names this process (run, resume).
    """
    import anyio

    from opscopilot import redact
    from opscopilot.config import ConfigError
    from opscopilot.llm.types import LLMError
    from opscopilot.runtime import Runtime, RuntimeFailure
    from opscopilot.store import Store, StoreError

    redact.register_environment_secrets()
    printer = TurnPrinter(sys.stdout, sys.stderr)
    try:
        recorder = _recorder(record, printer)
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE)

    async def main() -> TurnOutcome | None:
        store = Store.open()
        runtime = Runtime(store, owner_kind=owner_kind)
        subscription = runtime.bus.subscribe()
        outcome: TurnOutcome | None = None
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as group:

                async def render() -> None:
                    nonlocal recorder
                    async for event in subscription:
                        if recorder is not None:
                            recorder = _record(recorder, event, printer)
                        if not as_json or (event.type == "notice" and event.level != "info"):
                            printer.event(event)  # warnings reach stderr in --json mode too

                group.start_soon(render)
                try:
                    outcome = await start(runtime)
                except Exception as exc:  # raised below, outside the task group's wrapping
                    failure = exc
                finally:
                    await runtime.aclose()
        finally:
            store.close()
            if recorder is not None:
                recorder.close()
        if failure is not None:
            raise failure
        return outcome

    try:
        outcome = anyio.run(main)
    except RuntimeFailure as exc:
        _fail(
            exc.message, EXIT_USAGE if exc.kind in ("usage", "not_found", "config") else EXIT_FAILED
        )
    except (ConfigError, LLMError) as exc:
        _fail(str(exc), EXIT_USAGE)
    except StoreError as exc:
        _fail(f"store: {exc}", EXIT_FAILED)
    assert outcome is not None
    if as_json:
        from opscopilot.redact import redact_value

        document = redact_value(outcome.to_json())
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if outcome.status not in ("completed", "awaiting_approval") and outcome.reason:
            printer.note(f"{outcome.status}: {outcome.reason}")
    else:
        printer.finish(outcome)
    sys.exit(outcome.exit_code)


def _recorder(record: str | None, printer: TurnPrinter) -> SessionRecorder | None:
    """A live recorder when --record or `[recording] always` asks for one."""
    from opscopilot.replay.live import SessionRecorder, recording_settings

    settings = recording_settings(record)
    if not settings.enabled:
        return None
    return SessionRecorder(
        settings.directory,
        file=settings.file,
        on_open=lambda _session, path: printer.note(f"recording to {path}"),
    )


def _record(
    recorder: SessionRecorder, event: Event, printer: TurnPrinter
) -> SessionRecorder | None:
    """Write one event; a recording that can't be written stops with one line, the turn goes on."""
    from opscopilot.replay.recording import RecordingError

    try:
        recorder.write(event)
    except RecordingError as exc:
        printer.note(f"warning: recording stopped: {exc}")
        recorder.close()
        return None
    return recorder


def _fail(message: str, code: int) -> None:
    from opscopilot import redact

    click.echo(redact.redact(f"error: {message}"), err=True)
    sys.exit(code)


@click.command()
@click.argument("text")
@click.option(
    "--model",
    "-m",
    default=None,
    help="provider:model or a fallback chain (default: the configured model).",
    shell_complete=complete_models,
)
@click.option(
    "--approve",
    type=click.Choice(MODES),
    default="ask",
    show_default=True,
    help="What runs without a person: ask (reads run, the rest waits), read-only "
    "(reads run, the rest is denied), none (everything waits), all (runs all).",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop the turn when it would spend more than this (USD).",
)
@click.option(
    "--session",
    "session_id",
    default=None,
    help="Continue this session.",
    shell_complete=complete_sessions,
)
@click.option(
    "--wait",
    is_flag=True,
    help="When the turn pauses for approval, stay until it is decided (from any terminal, "
    "the TUI or the web page), then continue it here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
@click.option(
    "--record",
    "record",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[FILE]",
    help="Write this session's events to a recording as they happen (default file: "
    "the recordings folder, <session>.jsonl). Put it after TEXT, or use --record=FILE.",
)
def run(
    text: str,
    model: str | None,
    approve: str,
    max_cost: float | None,
    session_id: str | None,
    wait: bool,
    as_json: bool,
    record: str | None,
) -> None:
    """Run an agent turn: the model may call ops tools under the approval policy. TEXT "-"
    reads stdin."""
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise click.UsageError("the prompt is empty")
    _execute(
        lambda runtime: runtime.start_turn(
            session_id,
            text,
            model=model,
            approve_mode=approve,
            max_cost=max_cost,
            wait_for_approval=wait,
        ),
        as_json,
        record,
    )


@click.command()
@click.argument("turn_id")
@click.option(
    "--wait",
    is_flag=True,
    help="If the turn is (or becomes) paused for approval, stay until it is decided, then "
    "continue it here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
@click.option(
    "--record",
    "record",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[FILE]",
    help="Write the resumed turn's events to a recording as they happen (default file: "
    "the recordings folder, <session>.jsonl). Put it after TURN_ID, or use --record=FILE.",
)
def resume(turn_id: str, wait: bool, as_json: bool, record: str | None) -> None:
    """Continue a paused or interrupted turn (after approvals were decided, or a crash).

    Refused while another live process (a TUI, a batch run, another resume) owns the turn."""
    _execute(
        lambda runtime: runtime.resume(turn_id, wait_for_approval=wait),
        as_json,
        record,
        owner_kind="resume",
    )
