"""`opscopilot prompt TEXT`: one model call streamed to stdout; no tools run.

The import path is kept short on purpose (the request should leave within ~250 ms of
process start): pydantic, httpx and the adapters load inside the command, never at
module import, and nothing here imports Textual or a vendor SDK.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

import click

from opscopilot.cli.completion import complete_models

if TYPE_CHECKING:
    from opscopilot.llm.types import Attempt, ModelSpec, Request, Response, StreamEvent

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUDGET = 4


class TerminalRenderer:
    """Shows a call as it streams: text to stdout, everything else to stderr."""

    def __init__(self, *, as_json: bool, out: TextIO, err: TextIO) -> None:
        from opscopilot.redact import StreamRedactor

        self.text = StreamRedactor()  # a key streamed in pieces is masked whole
        self.thinking = StreamRedactor()
        self.as_json = as_json
        self.out = out
        self.err = err
        # Dim thinking text only on a terminal, and never when NO_COLOR is set (no-color.org).
        self.dim = err.isatty() and not os.environ.get("NO_COLOR")
        self.text_ends_with_newline = True
        self.wrote_text = False

    def note(self, message: str) -> None:
        from opscopilot import redact

        self.err.write(redact.redact(message) + "\n")
        self.err.flush()

    def attempt(self, attempt: Attempt) -> None:
        if attempt.is_retry:
            self.note(
                f"retrying {attempt.provider}:{attempt.model} (try {attempt.attempt}) "
                f"in {attempt.delay_s:.1f}s after {attempt.reason}"
            )
        elif attempt.is_fallback:
            self.note(f"falling back to {attempt.provider}:{attempt.model}: {attempt.reason}")

    def governance(self, event: Any) -> None:
        """What the budget says about this call: a lowered max_tokens, a cap's warning.

        A refusal or a cut-off is not repeated here: it ends the call as its error.
        """
        kind = getattr(event, "type", "")
        if kind == "notice" and event.level != "error":
            self.note(f"{event.level}: {event.message}")
        elif kind == "budget.warning":
            self.note(
                f"budget warning: ${event.spent_usd:.4f} of the ${event.cap_usd:.4f} "
                f"per-{event.scope} cap spent"
            )

    def event(self, event: StreamEvent) -> None:
        if self.as_json:
            return
        kind = event.type
        if kind == "text":
            self._write_text(self.text.feed(event.text))  # type: ignore[union-attr]
        elif kind == "thinking" and event.text:  # type: ignore[union-attr]
            self._write_thinking(self.thinking.feed(event.text))  # type: ignore[union-attr]
        elif kind == "tool_call_end":
            arguments = json.dumps(event.arguments, ensure_ascii=False)  # type: ignore[union-attr]
            self.note(f"tool call (not run): {event.name} {arguments}")  # type: ignore[union-attr]

    def _write_text(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()  # as it arrives (up to the word still arriving)
            self.wrote_text = True
            self.text_ends_with_newline = text.endswith("\n")

    def _write_thinking(self, text: str) -> None:
        if text:
            self.err.write(f"\x1b[2m{text}\x1b[0m" if self.dim else text)
            self.err.flush()

    def finish(self, response: Response, spec: ModelSpec | None) -> None:
        from opscopilot.redact import redact_value

        if not self.as_json:
            self._write_thinking(self.thinking.flush())
            self._write_text(self.text.flush())
        if self.as_json:
            document = redact_value(prompt_json(response))
            self.out.write(json.dumps(document, ensure_ascii=False) + "\n")
            self.out.flush()
        elif self.wrote_text and not self.text_ends_with_newline:
            self.out.write("\n")
            self.out.flush()
        if response.error is not None:
            self.note(f"error: {response.error.kind}: {response.error.message}")
        elif not self.as_json and response.cost_usd is None and spec is not None:
            self.note(f"cost unknown: {price_hint(spec)}")


def prompt_json(response: Response) -> dict[str, Any]:
    """The stable `prompt --json` object (DESIGN.md)."""
    return {
        "provider": response.provider,
        "model": response.model,
        "text": response.text,
        "thinking": response.thinking,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
        ],
        "finish_reason": response.finish_reason,
        "usage": response.usage.model_dump(),
        "cost_usd": response.cost_usd,
        "error": None if response.error is None else response.error.model_dump(),
    }


async def stream_call(
    chain: list[ModelSpec], request: Request, renderer: TerminalRenderer, governor: Any = None
) -> tuple[Response, ModelSpec | None]:
    """The stream loop: client events to the renderer, folded into the final Response.

    Kept to one function so governance can wrap `events` (budget cut-off mid-stream).
    """
    from opscopilot.llm.client import default_client, price_for
    from opscopilot.llm.types import ModelSpec, ResponseBuilder

    if governor is not None:  # caps, queue and ledger (opscopilot.governance) on every attempt
        from opscopilot.governance.wiring import governed_client

        client = governed_client(governor)
    else:
        client = default_client()
    builder = ResponseBuilder(chain[0].provider, chain[0].model)
    spec: ModelSpec | None = None
    try:
        events = client.stream(chain, request)
        async for item in events:
            if item.type == "attempt":
                attempt: Attempt = item  # type: ignore[assignment]
                spec = ModelSpec(provider=attempt.provider, model=attempt.model)
                builder = ResponseBuilder(spec.provider, spec.model)
                renderer.attempt(attempt)
                continue
            builder.add(item)  # type: ignore[arg-type]
            renderer.event(item)  # type: ignore[arg-type]
    finally:
        await client.aclose()
    price, simulated = price_for(spec) if spec is not None else (None, False)
    return builder.build(price=price, simulated=simulated), spec


def price_hint(spec: ModelSpec) -> str:
    """How to price a model the catalog does not know, in one line."""
    try:
        from opscopilot.llm import catalog

        return catalog.price_hint(spec)
    except (ModuleNotFoundError, AttributeError):
        return f'add [models."{spec}"] price to config.toml'


MAX_PIPED_BYTES = 4 * 1024 * 1024  # a runaway `cat` is cut here, not sent to a model whole


def _piped_stdin() -> str | None:
    """What a pipe or a redirected file holds on stdin; None for a terminal, /dev/null, or
    no stdin at all (a cron job, CI), so `prompt` never waits on input nobody sends."""
    import stat

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return None
    if not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)):
        return None
    data = sys.stdin.buffer.read(MAX_PIPED_BYTES)
    return data.decode("utf-8", "replace")


def _fail(kind: str, message: str, code: int) -> None:
    from opscopilot import redact

    click.echo(redact.redact(f"error: {kind}: {message}"), err=True)
    sys.exit(code)


@click.command()
@click.argument("text")
@click.option(
    "--model",
    "-m",
    "model",
    default=None,
    help="provider:model, or a comma-separated fallback chain (default: configured model).",
    shell_complete=complete_models,
)
@click.option("--system", "-s", "system", default=None, help="System prompt.")
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Most output tokens the model may generate.",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    default=None,
    help="Cap this call's cost in USD: max_tokens is lowered to fit and the stream "
    "is cut off at the cap (exit 4).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object at the end instead of streaming text.",
)
def prompt(
    text: str,
    model: str | None,
    system: str | None,
    max_tokens: int | None,
    max_cost: float | None,
    as_json: bool,
) -> None:
    """One model call, streamed to stdout; no tools run. TEXT "-" reads stdin.

    Piped input is added before TEXT, like `llm` does:
    `journalctl -u nginx -n 200 | opscopilot prompt "why does it fail?"`.
    """
    from opscopilot import config, redact

    redact.register_environment_secrets()
    if text == "-":
        text = sys.stdin.read()
    elif (piped := _piped_stdin()) and piped.strip():
        text = f"{piped.rstrip()}\n\n{text}"
    if not text.strip():
        raise click.UsageError("the prompt is empty")
    try:
        model = model or config.default_model()
    except config.ConfigError as exc:
        _fail("config", str(exc), EXIT_USAGE)

    import anyio

    from opscopilot.llm.providers import settings_for
    from opscopilot.llm.types import LLMError, Message, ModelSpec, Request

    try:
        chain = ModelSpec.parse_chain(model)
        for spec in chain:
            settings_for(spec.provider)  # an unknown provider is the operator's typo
    except LLMError as exc:
        raise click.UsageError(str(exc)) from None
    except config.ConfigError as exc:
        _fail("config", str(exc), EXIT_USAGE)

    from opscopilot.governance import GovernanceError, Governor

    renderer = TerminalRenderer(as_json=as_json, out=sys.stdout, err=sys.stderr)
    try:  # --max-cost is this call's cap; day/session caps from env, `budget set`, config
        governor = Governor.open(
            flag_max_cost=max_cost, flag_scope="call", publish=renderer.governance
        )
    except GovernanceError as exc:
        _fail("budget", exc.message, EXIT_USAGE)

    request = Request(
        model=chain[0].model, messages=[Message.user(text)], system=system, max_tokens=max_tokens
    )
    try:
        response, spec = anyio.run(stream_call, chain, request, renderer, governor)
    finally:
        governor.close()
    renderer.finish(response, spec)
    if response.error is not None:
        sys.exit(EXIT_BUDGET if response.error.kind == "budget" else EXIT_FAILED)
