"""http_check: probe one http(s) URL — status, latency, a few headers, a short body excerpt.

The probe judges the address it connects to, not the URL's spelling: the host is resolved
once, every address it resolves to is judged (`addresses.address_problem`: metadata,
link-local, loopback admin ports …), and the connection goes to the judged address (the
Host header and TLS server name stay the URL's), so no second lookup can rebind it.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opscopilot.redact import redact
from opscopilot.tools.addresses import IPAddress, address_problem, host_problem, parse_host
from opscopilot.tools.base import Classification, OutputCallback, Tool, ToolResult

BODY_EXCERPT_BYTES = 2048
_SHOWN_HEADERS = (
    "content-type",
    "content-length",
    "server",
    "location",
    "cache-control",
    "retry-after",
    "date",
    "via",
    "x-request-id",
    "www-authenticate",
)


class HttpCheckArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="An http:// or https:// URL.")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    timeout_s: float = Field(10, gt=0, le=120)
    expect_status: int | None = Field(
        None, ge=100, le=599, description="The status that counts as healthy."
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, method: Any) -> Any:
        return method.upper() if isinstance(method, str) else method

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return url.strip()


class HttpCheckTool(Tool):
    name = "http_check"
    in_process = True  # httpx inside opscopilot: guarded by the address it judges, not the sandbox
    description = (
        "Probe a URL over HTTP(S): status, latency in ms, key headers and the start of the "
        "body. Redirects are reported, not followed."
    )
    args_model = HttpCheckArgs

    def classify(self, arguments: dict[str, Any]) -> Classification:
        method = str(arguments.get("method") or "GET").upper()
        url = str(arguments.get("url") or "")
        subject = f"{self.name} {method} {url}"
        subjects = (self.name, subject)
        if method not in ("GET", "HEAD"):
            return Classification(
                "write",
                f"{method} can change the remote side",
                tool=self.name,
                command=subject,
                subjects=subjects,
            )
        problem = _spelling_problem(url)
        if problem:
            return Classification(
                "write", problem, tool=self.name, command=subject, subjects=subjects
            )
        return Classification(
            "read",
            f"{method} only reads",
            tool=self.name,
            command=subject,
            subjects=subjects,
            network=True,
        )

    async def run(
        self,
        args: BaseModel | dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
        approved_shell: bool = False,
    ) -> ToolResult:
        import httpx

        parsed = self.validate(args)
        assert isinstance(parsed, HttpCheckArgs)
        started = time.monotonic()
        try:
            url, extensions, problem = await _judged_target(parsed.url)
        except _Unreachable as exc:
            return ToolResult(
                status="error",
                duration_s=round(time.monotonic() - started, 3),
                content=redact(f"{parsed.method} {parsed.url}: {exc}"),
            )
        if problem and not approved_shell:
            return ToolResult(
                status="error",
                duration_s=round(time.monotonic() - started, 3),
                content=redact(
                    f"{parsed.method} {parsed.url}: not probed: {problem}; "
                    "that needs the operator's approval"
                ),
            )
        # trust_env=False: no .netrc credentials or proxy settings leak into a probe.
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=parsed.timeout_s
        ) as client:
            try:
                request = client.build_request(parsed.method, url, extensions=extensions)
                request.headers["Host"] = _host_header(parsed.url)
                response = await client.send(request, stream=True)
                try:
                    latency_ms = (time.monotonic() - started) * 1000
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= BODY_EXCERPT_BYTES:
                            break
                finally:
                    await response.aclose()
            except OSError as exc:
                return ToolResult(
                    status="error",
                    duration_s=round(time.monotonic() - started, 3),
                    content=redact(f"{parsed.method} {parsed.url}: {exc}"),
                )
            except httpx.TimeoutException:
                return ToolResult(
                    status="timeout",
                    duration_s=round(time.monotonic() - started, 3),
                    content=f"{parsed.method} {parsed.url}: no answer within {parsed.timeout_s:g}s",
                )
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
                return ToolResult(
                    status="error",
                    duration_s=round(time.monotonic() - started, 3),
                    content=redact(f"{parsed.method} {parsed.url}: {reason}"),
                )
        return self._result(parsed, response, bytes(body), latency_ms, started)

    @staticmethod
    def _result(
        parsed: HttpCheckArgs, response: Any, body: bytes, latency_ms: float, started: float
    ) -> ToolResult:
        status = response.status_code
        healthy = status == parsed.expect_status if parsed.expect_status else status < 400
        headers = {
            name: redact(response.headers[name])
            for name in _SHOWN_HEADERS
            if name in response.headers
        }
        excerpt = body[:BODY_EXCERPT_BYTES].decode("utf-8", errors="replace")
        more = len(body) > BODY_EXCERPT_BYTES
        lines = [
            f"{parsed.method} {parsed.url} -> {status} {response.reason_phrase} "
            f"in {latency_ms:.0f} ms"
        ]
        if parsed.expect_status:
            verdict = "as expected" if healthy else f"expected {parsed.expect_status}"
            lines[0] += f" ({verdict})"
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if excerpt:
            lines += ["", excerpt + ("\n[body truncated]" if more else "")]
        return ToolResult(
            status="ok" if healthy else "error",
            content=redact("\n".join(lines)),
            duration_s=round(time.monotonic() - started, 3),
            truncated=more,
            data={
                "status": status,
                "latency_ms": round(latency_ms, 1),
                "headers": headers,
                "healthy": healthy,
            },
        )


class _Unreachable(Exception):
    """The host cannot be reached at all (it does not resolve): a plain error result."""


def _spelling_problem(url: str) -> str | None:
    """Why the URL needs a person, from its spelling alone (every form of an IP, known names)."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "the URL cannot be judged"
    default = 443 if parts.scheme.lower() == "https" else 80
    return host_problem(host, port or default)


def _host_header(url: str) -> str:
    parts = urlsplit(url.strip())
    return parts.netloc.rpartition("@")[2]


async def _judged_target(url: str) -> tuple[str, dict[str, Any], str | None]:
    """Resolve the URL's host once and judge every address it resolves to. Returns the URL
    to connect to (the first address as a literal; the TLS server name kept in extensions)
    and why it may not be probed without a person (None when it may)."""
    import anyio

    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    https = parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    problem = host_problem(host, port)
    literal = parse_host(host)
    addresses: list[IPAddress] = []
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await anyio.to_thread.run_sync(
                socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM
            )
        except OSError as exc:
            raise _Unreachable(f"{host} does not resolve ({exc})") from None
        for info in infos:
            address = parse_host(str(info[4][0]))
            if address is not None and address not in addresses:
                addresses.append(address)
        if not addresses:
            raise _Unreachable(f"{host} resolves to no address")
    for address in addresses:
        if problem:
            break
        if why := address_problem(address, port):
            problem = why if literal is not None else f"{host} resolves to {address}: {why}"
    chosen = addresses[0]
    shown = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    extensions: dict[str, Any] = {"sni_hostname": host} if https and literal is None else {}
    return parts._replace(netloc=f"{shown}:{port}").geturl(), extensions, problem
