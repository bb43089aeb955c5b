"""The Starlette application of `opscopilot serve`: routes, security headers, background work.

The page (server-rendered HTML) and the JSON API share one service (web/service.py). Two tasks
run beside the requests: the change watch that wakes the page's event streams, and the expiry
sweeper that records lapsed approvals as expired within a second of their deadline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from opscopilot.web import api, pages
from opscopilot.web.changes import ChangeWatch

if TYPE_CHECKING:
    from jinja2 import Environment

    from opscopilot.store import Store
    from opscopilot.web.operators import Operators

HERE = Path(__file__).parent
SWEEP_AT_LEAST_EVERY_S = 5.0
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@dataclass
class Services:
    """What every request handler is handed (as `request.app.state.services`)."""

    store: Store
    operators: Operators
    secret: bytes
    watch: ChangeWatch
    templates: Environment
    public_url: str
    link_ttl_s: float

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


def templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


async def sweep_expiries(services: Services) -> None:
    """Record lapsed approvals as expired (on_expiry "deny"), waking at the next deadline."""
    from opscopilot.store.expiry import on_expiry, record_expiries

    seen = services.watch.version
    while True:
        if on_expiry() == "deny":
            await anyio.to_thread.run_sync(record_expiries, services.store, time.time())
        deadline = await anyio.to_thread.run_sync(services.store.next_expiry)
        wait = SWEEP_AT_LEAST_EVERY_S
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - time.time()))
        seen = await services.watch.wait(seen, wait)


class SecurityHeaders:
    """Pure ASGI middleware adding the headers above to every response (streams included)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    *,
    store_path: Path | None = None,
    public_url: str | None = None,
    link_ttl_s: float | None = None,
) -> Starlette:
    """The application on the operator's store (or `store_path`)."""
    from opscopilot.web.settings import ServeSettings

    settings = ServeSettings.from_config()
    public_url = public_url or settings.public_url()
    link_ttl_s = link_ttl_s or settings.link_ttl_s

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from opscopilot.store import Store
        from opscopilot.web.operators import Operators
        from opscopilot.web.signing import load_secret

        store = Store.open(store_path)  # None: the configured store (SQLite or a team's)
        path = store.path
        operators = Operators.open(path)
        services = Services(
            store=store,
            operators=operators,
            secret=load_secret(),
            watch=ChangeWatch(store),
            templates=templates(),
            public_url=public_url,
            link_ttl_s=link_ttl_s,
        )
        app.state.services = services
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(services.watch.run)
                group.start_soon(sweep_expiries, services)
                yield
                group.cancel_scope.cancel()
        finally:
            operators.close()
            store.close()

    routes = [
        *pages.routes(),
        *api.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    return app


__all__ = ["Route", "Services", "create_app"]
