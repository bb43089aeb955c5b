"""An MCP stdio server written by hand (no SDK), for the protocol's odd corners: a stray
non-JSON line, a ping and a sampling request sent to the client, a log notification, a
tool listing in two pages, a JSON-RPC error answer, a tool that never answers (the client's
notifications/cancelled is logged), and, with `--version X`, a protocol version of its own.

Every message it receives is appended to $RAW_SERVER_LOG (one JSON line each).
"""

from __future__ import annotations

import json
import os
import sys

VERSION = sys.argv[sys.argv.index("--version") + 1] if "--version" in sys.argv else "2025-06-18"
READ = {"readOnlyHint": True}
PAGES = [
    [
        {
            "name": "uptime",
            "description": "Host uptime",
            "inputSchema": {"type": "object"},
            "annotations": READ,
        }
    ],
    [
        {
            "name": "bad_args",
            "title": "Rejects its arguments",
            "inputSchema": {"type": "object"},
            "annotations": READ,
        },
        {"name": "never", "description": "Never answers", "annotations": READ},
        {"description": "no name: dropped"},
    ],
]


def send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def log(message: dict) -> None:
    path = os.environ.get("RAW_SERVER_LOG")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps(message) + "\n")


def main() -> None:
    print("starting up (a line that is not JSON-RPC)", flush=True)
    for line in sys.stdin:
        message = json.loads(line)
        log(message)
        method, request_id = message.get("method"), message.get("id")
        if method == "initialize":
            send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "result": {
                        "protocolVersion": VERSION,
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": "raw", "version": "1"},
                    },
                }
            )
        elif method == "notifications/initialized":
            send({"jsonrpc": "2.0", "id": "srv-ping", "method": "ping"})
            send(
                {
                    "jsonrpc": "2.0",
                    "id": "srv-sample",
                    "method": "sampling/createMessage",
                    "params": {"messages": [], "maxTokens": 5},
                }
            )
            send(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/message",
                    "params": {"level": "info", "data": "ready"},
                }
            )
        elif method == "tools/list":
            cursor = (message.get("params") or {}).get("cursor")
            page = 1 if cursor == "page-2" else 0
            result = {"tools": PAGES[page]}
            if page == 0:
                result["nextCursor"] = "page-2"
            send({"jsonrpc": "2.0", "id": request_id, "result": result})
        elif method == "tools/call":
            name = message["params"]["name"]
            if name == "uptime":
                token = message["params"].get("_meta", {}).get("progressToken")
                if token is not None:
                    send(
                        {
                            "jsonrpc": "2.0",
                            "method": "notifications/progress",
                            "params": {"progressToken": token, "progress": 1, "total": 1},
                        }
                    )
                send(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "result": {
                            "content": [
                                {"type": "text", "text": "up 3 days"},
                                {"type": "image", "data": "AAAA", "mimeType": "image/png"},
                            ]
                        },
                    }
                )
            elif name == "bad_args":
                send(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "error": {"code": -32602, "message": "unknown argument 'pod'"},
                    }
                )
            # "never": no answer at all
        elif method is None and request_id is not None:
            pass  # the client's answers (to ping and sampling) are only logged


if __name__ == "__main__":
    main()
