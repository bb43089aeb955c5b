"""Who is asking: an operator's Bearer token, the page's session cookie, or nobody.

Every check reads the token table again, so a token revoked while the server runs stops
working on its next request (cookies are bound to the token's hash, so they die with it).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opscopilot.web import signing

if TYPE_CHECKING:
    from starlette.requests import Request

    from opscopilot.web.operators import Operator, Operators

SESSION_COOKIE = "opscopilot_session"
LOGIN_COOKIE = "opscopilot_login"  # the login form's double-submit CSRF value


@dataclass(frozen=True)
class Caller:
    """An authenticated operator and what their forms' CSRF tokens are bound to."""

    operator: Operator
    binding: str
    by_cookie: bool

    @property
    def name(self) -> str:
        return self.operator.name


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def from_bearer(request: Request, operators: Operators) -> Caller | None:
    token = bearer_token(request)
    if token is None:
        return None
    operator = operators.by_token(token)
    if operator is None:
        return None
    return Caller(operator, f"bearer:{operator.token_hash}", by_cookie=False)


def from_cookie(request: Request, operators: Operators, secret: bytes) -> Caller | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    parts = signing.session_parts(cookie)
    if parts is None:
        return None
    operator = operators.by_name(parts[0])
    if operator is None:
        return None
    if not signing.session_is_genuine(secret, cookie, operator.token_hash, time.time()):
        return None
    return Caller(operator, f"session:{cookie}", by_cookie=True)


def page_caller(request: Request, operators: Operators, secret: bytes) -> Caller | None:
    """The page takes the Bearer header or the session cookie."""
    return from_bearer(request, operators) or from_cookie(request, operators, secret)


def new_session_cookie(secret: bytes, operator: Operator) -> str:
    return signing.session_cookie(secret, operator.name, operator.token_hash, int(time.time()))


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def same_origin(request: Request, public_host: str | None = None) -> bool:
    """False when the browser says the request comes from another site (Sec-Fetch-Site or
    Origin); requests without those headers (curl, scripts) are judged by their CSRF token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:  # every current browser sends it, and it can't be set by a page
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    origin_host = origin.split("://", 1)[-1]
    return origin_host in (request.headers.get("host", ""), public_host)
