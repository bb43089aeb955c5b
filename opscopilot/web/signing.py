"""HMACs under the server secret: signed links, session cookies and CSRF tokens (pure functions).

The secret is 32 random bytes in a file of its own beside the database (mode 0600), made on
first use; the process that sends a notification and the one that serves the page must read
the same file. It is never logged, printed or stored in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

SECRET_FILE = "serve-secret"
SESSION_MAX_AGE_S = 12 * 3600


def secret_path() -> Path:
    from opscopilot import config

    return config.data_dir() / SECRET_FILE


def load_secret(path: Path | None = None) -> bytes:
    """The server secret, created (0600, exclusively, so two processes agree) when missing."""
    path = secret_path() if path is None else path
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _mac(secret: bytes, *parts: str) -> str:
    message = "\x1f".join(parts).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- signed links ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """What a signed link carries: one approval, until a deadline."""

    approval_id: str
    expires_at: int
    signature: str

    def path(self) -> str:
        query = urlencode({"e": self.expires_at, "s": self.signature})
        return f"/link/{quote(self.approval_id, safe='')}?{query}"

    def url(self, public_url: str) -> str:
        return public_url.rstrip("/") + self.path()


def sign_link(secret: bytes, approval_id: str, expires_at: float) -> Link:
    deadline = int(expires_at)
    return Link(approval_id, deadline, _mac(secret, "link", approval_id, str(deadline)))


def link_is_genuine(secret: bytes, approval_id: str, expires_at: str, signature: str) -> bool:
    """True when the signature is ours for this approval and deadline (expiry checked apart)."""
    if not expires_at.isdigit():
        return False
    return _equal(_mac(secret, "link", approval_id, expires_at), signature)


# --- session cookies ------------------------------------------------------------------------


def session_cookie(secret: bytes, operator: str, token_hash: str, issued_at: int) -> str:
    """`NAME.ISSUED.MAC`, bound to the token's hash: revoking or replacing the token kills it."""
    mac = _mac(secret, "session", operator, token_hash, str(issued_at))
    return f"{quote(operator, safe='')}.{issued_at}.{mac}"


def session_parts(cookie: str) -> tuple[str, int, str] | None:
    """(operator, issued_at, mac) from a cookie's value, or None when it is not of our form."""
    from urllib.parse import unquote

    parts = cookie.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return unquote(parts[0]), int(parts[1]), parts[2]


def session_is_genuine(
    secret: bytes, cookie: str, token_hash: str, now: float, max_age_s: int = SESSION_MAX_AGE_S
) -> bool:
    parts = session_parts(cookie)
    if parts is None:
        return False
    operator, issued_at, mac = parts
    if not (issued_at <= now + 60 and now - issued_at <= max_age_s):
        return False
    return _equal(_mac(secret, "session", operator, token_hash, str(issued_at)), mac)


# --- CSRF -----------------------------------------------------------------------------------


def csrf_token(secret: bytes, binding: str) -> str:
    """The token every form carries, bound to the session (or to the link) it was served for."""
    return _mac(secret, "csrf", binding)


def csrf_is_genuine(secret: bytes, binding: str, token: str) -> bool:
    return bool(token) and _equal(csrf_token(secret, binding), token)
