"""Where the store lives: a SQLite file (one host) or a PostgreSQL server (a team).

`OPSCOPILOT_STORE` or `[store] url` in config.toml names it: `sqlite:///PATH` (the default,
`opscopilot.db` in the data folder) or `postgresql://USER[:PASS]@HOST:PORT/DB`; a server on
this host may be reached through its Unix socket directory instead of TCP, as libpq spells it:
`postgresql://USER@/DB?host=/run/postgresql` (`&port=N` picks the socket file). The password
(in the URL's user part or a `password=` parameter) is kept for connecting only: every text
made from a location (`display`, error lines) masks it.
This module imports nothing heavy; psycopg is imported only when a PostgreSQL store is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

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
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    params = parse_qsl(query, keep_blank_values=True)
    if any(key == "password" for key, _ in params):
        masked = [(key, MASK if key == "password" else value) for key, value in params]
        query = urlencode(masked, safe="/[]")
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    # Not urlunsplit: it drops the `//` of an empty host (a socket URL, `postgresql:///DB?…`).
    return (
        f"{parts.scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


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
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if not (parts.hostname or params.get("host")) or not parts.path.strip("/"):
            raise LocationError(
                f"store URL {masked_url(text)} needs a host and a database "
                "(postgresql://USER[:PASS]@HOST:PORT/DB, or a socket directory: "
                "postgresql://USER@/DB?host=/run/postgresql)"
            )
        del port
        normal = "postgresql://" + text.split("://", 1)[1]
        password = unquote(parts.password or "") or params.get("password", "")
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
