"""A real HTTP/1.1 server on loopback that plays scripted replies, cut into random pieces.

Tests (and benchmarks) script what each path answers: a status, headers and a body that is
sent as chunked transfer-encoding in random pieces (1-64 bytes by default) so that every
network boundary a decoder can meet is met. It records every request, and notices when the
client hangs up before the reply was fully sent (a budget cut-off must close the socket).
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/event-stream"
    pieces: tuple[int, int] | None = (1, 64)  # random piece sizes; None: send as given
    delay_s: float = 0.0  # pause between pieces
    abort_after: int | None = None  # drop the connection after this many body bytes
    hang_up: bool = False  # read the request, then close the connection without answering
    seed: int | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Delivery:
    """What happened to one reply: bytes sent and whether the client hung up early."""

    path: str
    bytes_sent: int = 0
    closed_early: bool = False
    finished: threading.Event = field(default_factory=threading.Event)


class WireServer:
    def __init__(self, seed: int = 0) -> None:
        self._replies: dict[str, deque[Reply]] = defaultdict(deque)
        self._handlers: dict[str, Callable[[RecordedRequest], Reply]] = {}
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[Delivery] = []
        self.random = random.Random(seed)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server._serve(self)

            do_POST = do_GET
            do_DELETE = do_GET

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    # --- scripting ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def expect(self, path: str, *replies: Reply) -> None:
        """Queue replies for `path` (matched without its query string), used in order."""
        with self._lock:
            self._replies[path].extend(replies)

    def handle(self, path: str, handler: Callable[[RecordedRequest], Reply]) -> None:
        """Answer every request to `path` with handler(request) (after queued replies)."""
        self._handlers[path] = handler

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> WireServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> WireServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving -----------------------------------------------------------------------

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            queue = self._replies.get(request.path)
            if queue:
                return queue.popleft()
        handler = self._handlers.get(request.path)
        if handler is not None:
            return handler(request)
        body = json.dumps({"error": {"message": f"no reply scripted for {request.path}"}})
        return Reply(status=599, body=body.encode(), content_type="application/json")

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        request = RecordedRequest(
            h.command, parts.path, parts.query, {k.lower(): v for k, v in h.headers.items()}, body
        )
        with self._lock:
            self.requests.append(request)
        reply = self._next_reply(request)
        delivery = Delivery(request.path)
        with self._lock:
            self.deliveries.append(delivery)
        try:
            self._send(h, reply, delivery)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            delivery.closed_early = True
            h.close_connection = True
        finally:
            delivery.finished.set()

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply, delivery: Delivery) -> None:
        if reply.hang_up:
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        h.send_response(reply.status)
        h.send_header("Content-Type", reply.content_type)
        h.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            h.send_header(name, value)
        h.end_headers()
        rng = random.Random(reply.seed) if reply.seed is not None else self.random
        write = h.wfile.write
        for piece in self._pieces(reply, rng):
            if (
                reply.abort_after is not None
                and delivery.bytes_sent + len(piece) > reply.abort_after
            ):
                piece = piece[: reply.abort_after - delivery.bytes_sent]
                if piece:
                    write(b"%x\r\n%s\r\n" % (len(piece), piece))
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            write(b"%x\r\n%s\r\n" % (len(piece), piece))
            h.wfile.flush()
            delivery.bytes_sent += len(piece)
            if reply.delay_s:
                time.sleep(reply.delay_s)
        write(b"0\r\n\r\n")
        h.wfile.flush()

    @staticmethod
    def _pieces(reply: Reply, rng: random.Random) -> Iterable[bytes]:
        if isinstance(reply.body, bytes):
            source: Iterable[bytes] = [reply.body]
        else:
            source = reply.body
        if reply.pieces is None:
            yield from (p for p in source if p)
            return
        low, high = reply.pieces
        for block in source:
            i = 0
            while i < len(block):
                n = rng.randint(low, high)
                yield block[i : i + n]
                i += n


def sse(*events: dict[str, Any] | str, event_names: bool = False) -> bytes:
    """Build an SSE body: dicts become `data: <json>`; a str is sent as the data verbatim.

    With event_names, a dict's "type" also goes out as the `event:` line (Anthropic style).
    """
    out = []
    for item in events:
        if isinstance(item, str):
            out.append(f"data: {item}\n\n")
            continue
        prefix = f"event: {item['type']}\n" if event_names and "type" in item else ""
        out.append(f"{prefix}data: {json.dumps(item, ensure_ascii=False)}\n\n")
    return "".join(out).encode()


def ndjson(*objects: dict[str, Any]) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects).encode()


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers=headers or {},
    )
