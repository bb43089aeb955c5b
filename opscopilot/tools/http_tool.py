"""http_check: probe one http(s) URL — status, latency, a few headers, a short body excerpt."""

from __future__ import annotations

import time
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opscopilot.redact import redact
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
# Cloud metadata endpoints hand out credentials: probing them needs the operator.
_METADATA_HOSTS = {
    "169.254.169.254",
    "metadata.google.internal",
    "metadata",
    "fd00:ec2::254",
    "100.100.100.200",
}


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
        host = (urlsplit(url).hostname or "").lower()
        if host in _METADATA_HOSTS:
            return Classification(
                "write",
                "cloud metadata endpoints hand out credentials",
                tool=self.name,
                command=subject,
                subjects=subjects,
            )
        return Classification(
            "read", f"{method} only reads", tool=self.name, command=subject, subjects=subjects
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
        # trust_env=False: no .netrc credentials or proxy settings leak into a probe.
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=parsed.timeout_s
        ) as client:
            try:
                async with client.stream(parsed.method, parsed.url) as response:
                    latency_ms = (time.monotonic() - started) * 1000
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= BODY_EXCERPT_BYTES:
                            break
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
