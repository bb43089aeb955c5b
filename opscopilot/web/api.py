"""The JSON API (DESIGN.md "Deciding from elsewhere"): Bearer token only, never the cookie.

`GET /api/approvals` lists pending approvals with the fields of `approvals list --json` (and
their context); `GET /api/approvals/ID` is `approvals show ID --json`; `POST …/approve`
(optional `{"args": {…}}`) and `POST …/deny` (`{"reason": "…"}`) answer 200 with the decided
approval, 404 for an unknown id, 409 when it was already decided or expired, 401 without a
valid token (and nothing changes).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opscopilot.web import auth, service
from opscopilot.web.pages import MAX_FORM_BYTES, client_address
from opscopilot.web.service import WebError

if TYPE_CHECKING:
    from starlette.requests import Request

    from opscopilot.web.app import Services


def _services(request: Request) -> Services:
    return request.app.state.services


def _error(status: int, message: str) -> JSONResponse:
    response = JSONResponse({"error": {"status": status, "message": message}}, status_code=status)
    if status == 401:
        response.headers["www-authenticate"] = 'Bearer realm="opscopilot"'
    return response


def _caller(request: Request) -> auth.Caller | None:
    return auth.from_bearer(request, _services(request).operators)


async def _body(request: Request) -> dict[str, Any]:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise WebError(413, "the body is too large")
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebError(400, "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise WebError(400, "the body must be a JSON object")
    return value


async def list_pending(request: Request) -> Response:
    if _caller(request) is None:
        return _error(401, "an operator token is needed (Authorization: Bearer TOKEN)")
    items = await anyio.to_thread.run_sync(service.pending, _services(request).store)
    return JSONResponse([item.document() for item in items])


async def show(request: Request) -> Response:
    if _caller(request) is None:
        return _error(401, "an operator token is needed (Authorization: Bearer TOKEN)")
    approval_id = request.path_params["approval_id"]
    try:
        record = await anyio.to_thread.run_sync(service.get, _services(request).store, approval_id)
    except WebError as exc:
        return _error(exc.status, exc.message)
    return JSONResponse(service.document(record))


async def _decide(request: Request, decision: str) -> Response:
    caller = _caller(request)
    if caller is None:
        return _error(401, "an operator token is needed (Authorization: Bearer TOKEN)")
    approval_id = request.path_params["approval_id"]
    try:
        body = await _body(request)
        arguments = body.get("args") if decision == "approved" else None
        if arguments is not None and not isinstance(arguments, dict):
            raise WebError(400, "args must be a JSON object of the tool's arguments")
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise WebError(400, "reason must be a string")
        decided = await anyio.to_thread.run_sync(
            lambda: service.decide(
                _services(request).store,
                approval_id,
                decision,
                operator=caller.name,
                client=client_address(request),
                reason=reason[:500],
                arguments=arguments,
            )
        )
    except WebError as exc:
        return _error(exc.status, exc.message)
    return JSONResponse(service.document(decided))


async def approve(request: Request) -> Response:
    return await _decide(request, "approved")


async def deny(request: Request) -> Response:
    return await _decide(request, "denied")


def routes() -> list[Route]:
    return [
        Route("/api/approvals", list_pending, methods=["GET"]),
        Route("/api/approvals/{approval_id}", show, methods=["GET"]),
        Route("/api/approvals/{approval_id}/approve", approve, methods=["POST"]),
        Route("/api/approvals/{approval_id}/deny", deny, methods=["POST"]),
    ]
