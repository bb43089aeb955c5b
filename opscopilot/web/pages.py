"""The page: server-rendered HTML behind a token or a session cookie, and signed links.

Every form carries a CSRF token bound to the session (or link) it was rendered for, and a POST
the browser marks as cross-site is refused before anything else. Text from the model or the
tool call is only ever rendered through Jinja2's autoescaping, and the CSP allows no inline
script, so a `<script>` in a tool's arguments is shown, not run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from opscopilot.web import auth, service, signing
from opscopilot.web.service import PendingApproval, WebError

if TYPE_CHECKING:
    from starlette.requests import Request

    from opscopilot.web.app import Services

MAX_FORM_BYTES = 64 * 1024
STREAM_KEEPALIVE_S = 15.0
LINK_OPERATOR = "signed-link"


def _services(request: Request) -> Services:
    return request.app.state.services


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


@dataclass(frozen=True)
class Card:
    """What _card.html shows of a pending approval."""

    item: PendingApproval

    def __getattr__(self, name: str) -> Any:
        return getattr(self.item, name)

    @property
    def age(self) -> str:
        return _ago(self.item.age_s)

    @property
    def arguments_text(self) -> str:
        return json.dumps(self.item.record.arguments, ensure_ascii=False, indent=2)

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.item.record.arguments, ensure_ascii=False)

    @property
    def expires(self) -> str:
        deadline = self.item.record.expires_at
        if deadline is None:
            return ""
        left = deadline - time.time()
        return f"in {int(left)} s" if left < 120 else f"in {int(left // 60)} min"


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    services = _services(request)
    html = services.templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status)


def _message(request: Request, status: int, heading: str, text: str, **context: Any) -> Response:
    return render(request, "message.html", status, heading=heading, text=text, **context)


def login_page(request: Request, status: int = 401, notice: str = "") -> Response:
    """The login form (answering 401: the request had no valid token)."""
    services = _services(request)
    nonce = request.cookies.get(auth.LOGIN_COOKIE) or auth.new_login_nonce()
    response = render(
        request,
        "login.html",
        status,
        login_csrf=signing.csrf_token(services.secret, f"login:{nonce}"),
        notice=notice,
        notice_kind="error",
        caller=None,
    )
    response.set_cookie(
        auth.LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=services.secure_cookies,
        max_age=3600,
    )
    response.headers["www-authenticate"] = 'Bearer realm="opscopilot"'
    return response


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the only kind our forms send), first value of each field."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise WebError(413, "the form is too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _caller(request: Request) -> auth.Caller | None:
    services = _services(request)
    return auth.page_caller(request, services.operators, services.secret)


def _list_context(request: Request, caller: auth.Caller) -> dict[str, Any]:
    services = _services(request)
    items = [Card(item) for item in service.pending(services.store)]
    return {
        "items": items,
        "caller": caller,
        "csrf": signing.csrf_token(services.secret, caller.binding),
        "version": services.watch.version,
    }


async def index(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return login_page(request)
    context = await anyio.to_thread.run_sync(_list_context, request, caller)
    decided_id = request.query_params.get("decided")
    if decided_id:
        record = await anyio.to_thread.run_sync(_services(request).store.get_approval, decided_id)
        if record is not None and record.status != "pending":
            context["notice"] = f"{record.tool} ({record.id}): {record.status}"
            context["notice_kind"] = "ok"
    return render(request, "approvals.html", **context)


async def fragment(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return Response("sign in again", status_code=401, media_type="text/plain")
    context = await anyio.to_thread.run_sync(_list_context, request, caller)
    return render(request, "_list.html", **context)


async def events(request: Request) -> Response:
    """`changed` whenever the store changes (from any process), until the token is revoked."""
    if _caller(request) is None:
        return Response("sign in again", status_code=401, media_type="text/plain")
    watch = _services(request).watch
    try:
        seen = int(request.query_params.get("after", watch.version))
    except ValueError:
        seen = watch.version

    async def stream():
        nonlocal seen
        yield "retry: 2000\n\n"
        if seen != watch.version:
            seen = watch.version
            yield f"event: changed\ndata: {seen}\n\n"
        while _caller(request) is not None:
            version = await watch.wait(seen, STREAM_KEEPALIVE_S)
            if await request.is_disconnected():
                return
            if version != seen:
                seen = version
                yield f"event: changed\ndata: {seen}\n\n"
            else:
                yield ": still here\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def login(request: Request) -> Response:
    services = _services(request)
    if not auth.same_origin(request, _public_host(services)):
        return _message(request, 403, "Refused", "This form was sent from another site.")
    form = await read_form(request)
    nonce = request.cookies.get(auth.LOGIN_COOKIE, "")
    if not nonce or not signing.csrf_is_genuine(
        services.secret, f"login:{nonce}", form.get("csrf", "")
    ):
        return login_page(request, 403, "The form expired; sign in again.")
    operator = services.operators.by_token(form.get("token", "").strip())
    if operator is None:
        return login_page(request, 401, "That token is not valid (revoked or mistyped).")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        auth.SESSION_COOKIE,
        auth.new_session_cookie(services.secret, operator),
        httponly=True,
        samesite="strict",
        secure=services.secure_cookies,
        max_age=signing.SESSION_MAX_AGE_S,
    )
    response.delete_cookie(auth.LOGIN_COOKIE)
    return response


async def logout(request: Request) -> Response:
    caller = _caller(request)
    if caller is not None:
        form = await read_form(request)
        if not signing.csrf_is_genuine(
            _services(request).secret, caller.binding, form.get("csrf", "")
        ):
            return _message(request, 403, "Refused", "The form expired; reload the page.")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


def _public_host(services: Services) -> str:
    return services.public_url.split("://", 1)[-1].split("/", 1)[0]


def _edited(form: dict[str, str]) -> dict[str, Any] | None:
    text = form.get("args", "").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"the arguments are not valid JSON ({exc.msg} at column {exc.colno})"
        raise WebError(400, message) from None
    if not isinstance(value, dict):
        raise WebError(400, "the arguments must be a JSON object")
    return value


async def _decide_from_form(
    request: Request, approval_id: str, decision: str, form: dict[str, str], operator: str
):
    services = _services(request)
    edited = _edited(form) if decision == "approved" else None
    return await anyio.to_thread.run_sync(
        lambda: service.decide(
            services.store,
            approval_id,
            decision,
            operator=operator,
            client=client_address(request),
            reason=form.get("reason", "").strip()[:500],
            arguments=edited,
        )
    )


async def decide(request: Request, decision: str) -> Response:
    services = _services(request)
    caller = _caller(request)
    if caller is None:
        return login_page(request)
    if not auth.same_origin(request, _public_host(services)):
        return _message(request, 403, "Refused", "This form was sent from another site.")
    approval_id = request.path_params["approval_id"]
    try:
        form = await read_form(request)
        if not signing.csrf_is_genuine(services.secret, caller.binding, form.get("csrf", "")):
            raise WebError(403, "the form expired; reload the page and decide again")
        await _decide_from_form(request, approval_id, decision, form, caller.name)
    except WebError as exc:
        context = await anyio.to_thread.run_sync(_list_context, request, caller)
        return render(
            request,
            "approvals.html",
            exc.status,
            notice=exc.message,
            notice_kind="error",
            **context,
        )
    return RedirectResponse(f"/?decided={approval_id}", status_code=303)


# --- signed links ---------------------------------------------------------------------------


def _link_item(request: Request, approval_id: str, expires: str, signature: str):
    """The approval a link opens, or WebError 403 (forged) / 410 (used, decided, expired)."""
    services = _services(request)
    if not signing.link_is_genuine(services.secret, approval_id, expires, signature):
        raise WebError(403, "this link is not genuine")
    now = time.time()
    if now >= int(expires):
        raise WebError(410, "this link has expired")
    record = services.store.get_approval(approval_id)
    if record is None:
        raise WebError(410, "this link's approval no longer exists")
    record = record.as_of(now)
    if record.status != "pending":
        raise WebError(410, f"this link is used up: the approval is already {record.status}")
    return service.with_context(services.store, record, now)


def _link_hidden(services: Services, approval_id: str, expires: str, signature: str):
    binding = f"link:{approval_id}:{expires}:{signature}"
    return [
        ("e", expires),
        ("s", signature),
        ("csrf", signing.csrf_token(services.secret, binding)),
    ]


async def open_link(request: Request) -> Response:
    services = _services(request)
    approval_id = request.path_params["approval_id"]
    expires = request.query_params.get("e", "")
    signature = request.query_params.get("s", "")
    try:
        item = await anyio.to_thread.run_sync(_link_item, request, approval_id, expires, signature)
    except WebError as exc:
        return _message(request, exc.status, "This link does not open anything", exc.message)
    hidden = _link_hidden(services, approval_id, expires, signature)
    return render(request, "link.html", item=Card(item), hidden=hidden, caller=None)


async def decide_by_link(request: Request, decision: str) -> Response:
    services = _services(request)
    approval_id = request.path_params["approval_id"]
    if not auth.same_origin(request, _public_host(services)):
        return _message(request, 403, "Refused", "This form was sent from another site.")
    try:
        form = await read_form(request)
        expires, signature = form.get("e", ""), form.get("s", "")
        await anyio.to_thread.run_sync(_link_item, request, approval_id, expires, signature)
        binding = f"link:{approval_id}:{expires}:{signature}"
        if not signing.csrf_is_genuine(services.secret, binding, form.get("csrf", "")):
            raise WebError(403, "the form expired; open the link again")
        decided = await _decide_from_form(request, approval_id, decision, form, LINK_OPERATOR)
    except WebError as exc:
        status = 410 if exc.status == 409 else exc.status
        return _message(request, status, "Not decided", exc.message)
    return _message(
        request,
        200,
        decided.status.capitalize(),
        f"{decided.tool} ({decided.id}) is {decided.status}. This link is now used up.",
    )


def routes() -> list[Route]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/fragment", fragment, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/link/{approval_id}", open_link, methods=["GET"]),
        *(
            Route(f"{base}/{{approval_id}}/{verb}", _bound(handler, decision), methods=["POST"])
            for base, handler in (("/approvals", decide), ("/link", decide_by_link))
            for verb, decision in (("approve", "approved"), ("deny", "denied"))
        ),
    ]


def _bound(handler, decision: str):
    async def endpoint(request: Request) -> Response:
        return await handler(request, decision)

    return endpoint
