"""Incident tickets: reading a JSONL backlog, and the prompt a ticket becomes."""

from __future__ import annotations

import json
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
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TicketError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TicketError(f"{path}: not UTF-8 text") from None
    tickets: list[Ticket] = []
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
        tickets.append(ticket)
    if not tickets:
        raise TicketError(f"{path}: no tickets")
    return tickets


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
