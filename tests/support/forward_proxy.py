"""A small HTTP forward proxy on loopback, as a corporate proxy behaves, for proxy tests.

A request in absolute form (`POST http://host:port/path HTTP/1.1`, what a client sends to
an HTTP proxy for a plain-http URL) is forwarded to that host and the answer relayed back
byte for byte. `CONNECT host:port` (what a client sends for an https URL) is recorded and
refused with 403 unless `tunnel` is set, in which case the bytes are piped both ways. Only
loopback targets are forwarded: anything else is refused, so a test can never reach out.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ForwardProxy:
    def __init__(self, *, tunnel: bool = False) -> None:
        self.request_lines: list[str] = []
        self.tunnel = tunnel
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy._handle(self)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: socketserver.StreamRequestHandler) -> None:
        line = handler.rfile.readline(65536).decode("latin-1").rstrip("\r\n")
        headers: list[str] = []
        while True:
            header = handler.rfile.readline(65536).decode("latin-1")
            if header in ("\r\n", "\n", ""):
                break
            headers.append(header.rstrip("\r\n"))
        with self._lock:
            self.request_lines.append(line)
        method, target, _version = [*line.split(" ", 2), "", ""][:3]
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if not self.tunnel or host.strip("[]") not in LOOPBACK:
                handler.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            upstream = socket.create_connection((host.strip("[]"), int(port)))
            handler.wfile.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            handler.wfile.flush()
            self._pipe(handler.connection, upstream)
            return
        parts = urlsplit(target)
        if parts.hostname not in LOOPBACK:
            handler.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        length = next(
            (int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")),
            0,
        )
        body = handler.rfile.read(length) if length else b""
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        kept = [
            h
            for h in headers
            if not h.lower().startswith(("connection:", "proxy-connection:", "keep-alive:"))
        ]
        head = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
        with socket.create_connection((parts.hostname, parts.port or 80)) as upstream:
            upstream.sendall(head.encode("latin-1") + body)
            while chunk := upstream.recv(65536):
                handler.wfile.write(chunk)
                handler.wfile.flush()

    @staticmethod
    def _pipe(client: socket.socket, upstream: socket.socket) -> None:
        def copy(source: socket.socket, target: socket.socket) -> None:
            try:
                while chunk := source.recv(65536):
                    target.sendall(chunk)
            except OSError:
                pass
            finally:
                try:
                    target.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        other = threading.Thread(target=copy, args=(upstream, client), daemon=True)
        other.start()
        copy(client, upstream)
        other.join()
        upstream.close()
