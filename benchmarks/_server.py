"""A loopback streaming server in its own process, so the client's CPU time is the client's alone.

Serves, until its stdin closes, a stream of N events in a provider's wire format at
/v1/chat/completions (OpenAI) and /v1/messages (Anthropic), sent in blocks of 256 events.
Extra sizes are served under /n/SIZE/... (slow peers get a shorter stream), and a paced
OpenAI stream (one event per network write, a pause between) under /paced/... for latency.
Prints its URL on the first line of stdout.

Usage: python benchmarks/_server.py N [delay_ms] [--sizes 10000,2000] [--paced COUNT:DELAY_MS]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.wire_server import Reply, WireServer

HEAD = {
    "id": "chatcmpl-bench",
    "object": "chat.completion.chunk",
    "created": 1763680000,
    "model": "bench",
}


def openai_events(n: int) -> list[str]:
    """The n content chunks, then the finish chunk, the usage chunk and [DONE]."""
    parts = []
    for i in range(n):
        chunk = {
            **HEAD,
            "choices": [{"index": 0, "delta": {"content": f"tok{i % 97} "}, "finish_reason": None}],
        }
        parts.append(f"data: {json.dumps(chunk)}\n\n")
    final = {**HEAD, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {
        **HEAD,
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": n + 12},
    }
    parts += [
        f"data: {json.dumps(final)}\n\n",
        f"data: {json.dumps(usage)}\n\n",
        "data: [DONE]\n\n",
    ]
    return parts


def anthropic_events(n: int) -> list[str]:
    def ev(obj: dict) -> str:
        return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n"

    parts = [
        ev(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_bench",
                    "type": "message",
                    "role": "assistant",
                    "model": "bench",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 12, "output_tokens": 1},
                },
            }
        ),
        ev(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        ),
    ]
    for i in range(n):
        parts.append(
            ev(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": f"tok{i % 97} "},
                }
            )
        )
    parts += [
        ev({"type": "content_block_stop", "index": 0}),
        ev(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            }
        ),
        ev({"type": "message_stop"}),
    ]
    return parts


def blocks_of(parts: list[str], size: int = 256) -> list[bytes]:
    return ["".join(parts[i : i + size]).encode() for i in range(0, len(parts), size)]


def openai_stream(n: int) -> list[bytes]:
    return blocks_of(openai_events(n))


def anthropic_stream(n: int) -> list[bytes]:
    return blocks_of(anthropic_events(n))


def serve_size(server: WireServer, prefix: str, n: int, delay_s: float) -> None:
    openai_blocks, anthropic_blocks = openai_stream(n), anthropic_stream(n)
    for path in (f"{prefix}/v1/chat/completions", f"{prefix}/chat/completions"):
        server.handle(path, lambda r: Reply(body=openai_blocks, pieces=None, delay_s=delay_s))
    server.handle(
        f"{prefix}/v1/messages",
        lambda r: Reply(body=anthropic_blocks, pieces=None, delay_s=delay_s),
    )


def quiet_resets(server: WireServer) -> None:
    """A client that closes its keep-alive socket resets it: not worth a traceback."""
    report = server._httpd.handle_error

    def handle_error(request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionResetError):
            report(request, client_address)

    server._httpd.handle_error = handle_error  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("delay_ms", type=float, nargs="?", default=0.0)
    parser.add_argument("--sizes", default="", help="extra sizes, served under /n/SIZE/")
    parser.add_argument("--paced", default="", help="COUNT:DELAY_MS, served under /paced/")
    args = parser.parse_args()
    server = WireServer()
    quiet_resets(server)
    serve_size(server, "", args.n, args.delay_ms / 1000)
    for size in filter(None, args.sizes.split(",")):
        serve_size(server, f"/n/{int(size)}", int(size), args.delay_ms / 1000)
    if args.paced:
        count, _, delay_ms = args.paced.partition(":")
        paced = [part.encode() for part in openai_events(int(count))]
        delay = float(delay_ms or 1) / 1000
        server.handle(
            "/paced/v1/chat/completions", lambda r: Reply(body=paced, pieces=None, delay_s=delay)
        )
    server.start()
    print(server.url, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        server.stop()


if __name__ == "__main__":
    main()
