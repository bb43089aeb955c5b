"""Where the store lives: a SQLite file (one host) or a PostgreSQL server (a team).

`OPSCOPILOT_STORE` or `[store] url` in config.toml names it: `sqlite:///PATH` (the default,
`opscopilot.db` in the data folder) or `postgresql://USER[:PASS]@HOST:PORT/DB`. The password
is kept for connecting only: every text made from a location (`display`, error lines) masks it.
This module imports nothing heavy; psycopg is imported only when a PostgreSQL store is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

Backend = Literal["sqlite", "postgresql"]
ENV_VAR = "OPSCOPILOT_STORE"
MASK = "[REDACTED]"  # what redaction writes for a password in a URL: one spelling everywhere
_PG_SCHEMES = ("postgresql", "postgres")


class LocationError(ValueError):
    """A store URL that cannot be used; the message is one line, without the password."""


@dataclass(frozen=True)
class StoreLocation:
    backend: Backend
    path: Path | None = None  # the SQLite file
    url: str = field(default="", repr=False)  # the PostgreSQL URL, password included
    password: str = field(default="", repr=False)

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    def display(self) -> str:
        """The location as operators may read it (logs, errors, doctor): no password."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        return masked_url(self.url)

    def scrub(self, text: str) -> str:
        """`text` with this location's password (and its URL form) masked."""
        if self.url and self.url in text:
            text = text.replace(self.url, self.display())
        if self.password and len(self.password) >= 3:
            text = text.replace(self.password, "[REDACTED]")
        return text

    def __str__(self) -> str:
        return self.display()


def masked_url(url: str) -> str:
    """A PostgreSQL URL with its password masked (as `redact` masks one in any text)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse(url: str) -> StoreLocation:
    """A location from a store URL; a bare path is a SQLite file."""
    text = url.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme == "sqlite":
        # As SQLAlchemy spells it: sqlite:///relative.db, sqlite:////absolute/path.db.
        rest = text.split("://", 1)[1]
        if not rest.startswith("/") or not rest[1:]:
            raise LocationError(
                f"store URL {text!r} names no file (sqlite:///PATH, sqlite:////ABSOLUTE/PATH)"
            )
        return StoreLocation("sqlite", path=Path(unquote(rest[1:])).expanduser().absolute())
    if scheme in _PG_SCHEMES:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise LocationError(f"store URL {masked_url(text)} is not valid ({exc})") from None
        if not parts.hostname or not parts.path.strip("/"):
            raise LocationError(
                f"store URL {masked_url(text)} needs a host and a database "
                "(postgresql://USER[:PASS]@HOST:PORT/DB)"
            )
        del port
        normal = "postgresql://" + text.split("://", 1)[1]
        password = unquote(parts.password or "")
        _register(password)
        return StoreLocation("postgresql", url=normal, password=password)
    if scheme:
        raise LocationError(
            f"store URL scheme {scheme!r} is not known (use sqlite:///PATH or "
            "postgresql://USER[:PASS]@HOST:PORT/DB)"
        )
    return StoreLocation("sqlite", path=Path(text).expanduser())


def _register(password: str) -> None:
    if password:
        from opscopilot import redact

        redact.register_secret(password)


def configured() -> StoreLocation:
    """OPSCOPILOT_STORE > config.toml `[store] url` > opscopilot.db in the data folder."""
    from opscopilot import config

    url = os.environ.get(ENV_VAR) or config.section("store").get("url")
    if url:
        if not isinstance(url, str):
            raise LocationError(f"{config.config_path()}: [store] url must be a string")
        return parse(url)
    return StoreLocation("sqlite", path=config.db_path())


def resolve(target: StoreLocation | Path | str | None) -> StoreLocation:
    """What a caller handed the store: None (the configured one), a location, a path or a URL."""
    if target is None:
        return configured()
    if isinstance(target, StoreLocation):
        return target
    if isinstance(target, Path):
        return StoreLocation("sqlite", path=target)
    return parse(target)
