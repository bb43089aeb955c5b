"""Incident tickets: reading a JSONL backlog, and the prompt a ticket becomes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class TicketError(Exception):
    """A tickets file that can't be used; the message names the file and line."""


class Ticket(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1)
    body: str = ""
    severity: str | None = None
    service: str | None = None
    attachments: list[str] = Field(
        default_factory=list
    )  # evidence files, relative to the tickets file

    @field_validator("id", "title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


def load_tickets(path: Path) -> list[Ticket]:
    """Every ticket of a JSONL file, in order; a bad line or a repeated id is one TicketError."""
    return [ticket for ticket, _ in _checked(path)]


class Backlog:
    """A run's tickets file, every line checked when it was read, kept as its lines: a
    ticket becomes a model again when it is worked (a model each held ~1 KB per ticket of
    the backlog for the whole run)."""

    def __init__(self, path: Path) -> None:
        self._lines: list[str] = []
        self.order: dict[str, int] = {}  # id -> its place in the file
        for ticket, line in _checked(path):
            self.order[ticket.id] = len(self._lines)
            self._lines.append(line)

    @property
    def ids(self) -> list[str]:
        """The tickets' ids in file order."""
        return list(self.order)

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, ticket_id: object) -> bool:
        return ticket_id in self.order

    def __getitem__(self, ticket_id: str) -> Ticket:
        return Ticket.model_validate(json.loads(self._lines[self.order[ticket_id]]))

    def get(self, ticket_id: str) -> Ticket | None:
        return self[ticket_id] if ticket_id in self.order else None


def _checked(path: Path) -> Iterator[tuple[Ticket, str]]:
    """Each ticket of the file with its line; a bad line or a repeated id is a TicketError."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TicketError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TicketError(f"{path}: not UTF-8 text") from None
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            ticket = Ticket.model_validate(json.loads(line))
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "ticket"
                detail = f"{where}: {first['msg']}"
            else:
                detail = "not a JSON object"
            raise TicketError(f"{path}:{number}: {detail}") from None
        if ticket.id in seen:
            raise TicketError(f"{path}:{number}: ticket id {ticket.id!r} appears twice")
        seen.add(ticket.id)
        yield ticket, line
    if not seen:
        raise TicketError(f"{path}: no tickets")


def ticket_prompt(ticket: Ticket, base_dir: Path) -> str:
    """What the agent is asked: the ticket, and its evidence as absolute paths."""
    labels = ", ".join(
        part
        for part in (ticket.severity, f"service {ticket.service}" if ticket.service else None)
        if part
    )
    head = f"Incident ticket {ticket.id}" + (f" ({labels})" if labels else "") + f": {ticket.title}"
    parts = [head]
    if ticket.body.strip():
        parts.append(ticket.body.strip())
    if ticket.attachments:
        files = "\n".join(f"- {(base_dir / name).resolve()}" for name in ticket.attachments)
        parts.append(f"Attached evidence (files on this machine):\n{files}")
    return "\n\n".join(parts) + "\n"
