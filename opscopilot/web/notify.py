"""Tell someone when an approval is requested: `[notify] command` and/or `webhook`.

Each notification carries a summary and a signed single-use link that opens that approval on
the page. The command is an argv list (never a shell): `{summary}`, `{link}`, `{approval_id}`,
`{tool}` and `{risk}` in its arguments are replaced, and the whole notification is also given as
one JSON object on its stdin. The webhook receives the same JSON object as a POST. Both run as
tasks beside the turn, each under a timeout; a failure is one warning line in the event log and
the turn never waits for it (the process waits for unfinished ones, within their timeout, only
when it closes).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opscopilot import children

if TYPE_CHECKING:
    from opscopilot.events import Event
    from opscopilot.store import ApprovalRecord

DEFAULT_TIMEOUT_S = 10.0
PLACEHOLDERS = ("summary", "link", "approval_id", "tool", "risk")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
SUMMARY_ARGUMENTS_CHARS = 200


@dataclass(frozen=True)
class NotifySettings:
    command: tuple[str, ...] = ()
    webhook: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_config(cls) -> NotifySettings | None:
        """`[notify]` from config.toml, or None when it names no command and no webhook."""
        from opscopilot import config

        section = config.section("notify")
        if not section:
            return None
        where = f"{config.config_path()}: [notify]"
        command = section.get("command", [])
        if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
            raise config.ConfigError(f"{where} command must be a list of strings (an argv)")
        webhook = section.get("webhook")
        if webhook is not None and (
            not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))
        ):
            raise config.ConfigError(f"{where} webhook must be an http:// or https:// URL")
        timeout = section.get("timeout_s", DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise config.ConfigError(f"{where} timeout_s must be a positive number")
        if not command and webhook is None:
            return None
        return cls(tuple(command), webhook, float(timeout))


def summary(record: ApprovalRecord) -> str:
    """One line: the tool, its risk, what it would run, and why it asks."""
    from opscopilot.redact import redact

    if record.tool == "run_command" and isinstance(record.arguments.get("command"), str):
        what = record.arguments["command"]
    else:
        what = json.dumps(record.arguments, ensure_ascii=False, separators=(",", ":"))
    if len(what) > SUMMARY_ARGUMENTS_CHARS:
        what = what[: SUMMARY_ARGUMENTS_CHARS - 1] + "…"
    line = f"opscopilot: {record.tool} ({record.risk}) waits for approval: {what}"
    if record.reason:
        line += f" ({record.reason})"
    return redact(" ".join(line.split()))


def notification(record: ApprovalRecord, *, now: float | None = None) -> dict[str, Any]:
    """The JSON object a notifier receives (the link signed under the server secret)."""
    from opscopilot.redact import redact
    from opscopilot.web.settings import ServeSettings
    from opscopilot.web.signing import load_secret, sign_link

    settings = ServeSettings.from_config()
    now = time.time() if now is None else now
    deadline = now + settings.link_ttl_s
    if record.expires_at is not None:
        deadline = min(deadline, record.expires_at)
    link = sign_link(load_secret(), record.id, deadline)
    return {
        "event": "approval.requested",
        "approval_id": record.id,
        "session_id": record.session_id,
        "turn_id": record.turn_id,
        "tool": record.tool,
        "arguments": json.loads(redact(json.dumps(record.arguments, ensure_ascii=False))),
        "risk": record.risk,
        "reason": redact(record.reason),
        "requested_at": record.requested_at,
        "expires_at": record.expires_at,
        "summary": summary(record),
        "link": link.url(settings.public_url()),
        "link_expires_at": link.expires_at,
    }


def command_argv(command: tuple[str, ...], values: dict[str, Any]) -> list[str]:
    """The argv with placeholders replaced in one pass (a value is never expanded again)."""
    return [_PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), argument) for argument in command]


class Notifier:
    """Fires the configured notifiers as tasks; `aclose` lets unfinished ones end."""

    def __init__(self, settings: NotifySettings, publish: Callable[[Event], None]) -> None:
        self.settings = settings
        self._publish = publish
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_config(cls, publish: Callable[[Event], None]) -> Notifier | None:
        settings = NotifySettings.from_config()
        return None if settings is None else cls(settings, publish)

    def approval_requested(self, record: ApprovalRecord) -> None:
        """Start notifying about `record`; returns at once."""
        task = asyncio.get_running_loop().create_task(self._notify(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Wait for notifications still under way (each is bounded by its timeout)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _notify(self, record: ApprovalRecord) -> None:
        try:
            document = notification(record)
        except Exception as exc:  # a bad [serve] section or an unreadable secret: one line
            self._warn(record, f"notify: no notification sent: {exc}")
            return
        jobs = []
        if self.settings.command:
            jobs.append(self._run_command(record, document))
        if self.settings.webhook:
            jobs.append(self._post_webhook(record, document))
        await asyncio.gather(*jobs)

    async def _run_command(self, record: ApprovalRecord, document: dict[str, Any]) -> None:
        argv = command_argv(self.settings.command, document)
        name = self.settings.command[0]
        children.install()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            self._warn(record, f"notify: command {name} could not start: {exc.strerror or exc}")
            return
        payload = json.dumps(document, ensure_ascii=False).encode() + b"\n"
        try:
            _, stderr = await asyncio.wait_for(
                process.communicate(payload), timeout=self.settings.timeout_s
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            self._warn(
                record, f"notify: command {name} took over {self.settings.timeout_s:g} s; killed"
            )
            return
        if process.returncode != 0:
            last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            detail = f": {last[0][:200]}" if last[0] else ""
            self._warn(record, f"notify: command {name} exited {process.returncode}{detail}")

    async def _post_webhook(self, record: ApprovalRecord, document: dict[str, Any]) -> None:
        import httpx

        url = self.settings.webhook or ""
        shown = "/".join(url.split("/", 3)[:3])  # a webhook's path or query often is its secret
        try:
            async with httpx.AsyncClient(timeout=self.settings.timeout_s) as client:
                response = await client.post(url, json=document)
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
            self._warn(record, f"notify: webhook {shown} failed: {kind}")
            return
        if response.status_code >= 300:
            self._warn(record, f"notify: webhook {shown} answered {response.status_code}")

    def _warn(self, record: ApprovalRecord, message: str) -> None:
        from opscopilot.events import Notice
        from opscopilot.redact import redact

        self._publish(
            Notice(
                ts=time.time(),
                session_id=record.session_id,
                turn_id=record.turn_id,
                level="warning",
                message=redact(message),
            )
        )
