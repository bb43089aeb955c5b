"""A loopback streaming server in its own process, so the client's CPU time is the client's alone.

Serves, forever until killed, a stream of N events in a provider's wire format at
/v1/chat/completions (OpenAI), /v1/messages (Anthropic) and /api/chat (Ollama NDJSON).
Prints its URL on the first line of stdout. Usage: python benchmarks/_server.py N [delay_ms]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.wire_server import Reply, WireServer  # noqa: E402


def openai_stream(n: int) -> list[bytes]:
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1763680000, "model": "bench"}
    blocks, parts = [], []
    for i in range(n):
        chunk = {**head, "choices": [{"index": 0, "delta": {"content": f"tok{i % 97} "}, "finish_reason": None}]}
        parts.append(f"data: {json.dumps(chunk)}\n\n")
        if len(parts) == 256:
            blocks.append("".join(parts).encode())
            parts = []
    final = {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {**head, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": n + 12}}
    parts += [f"data: {json.dumps(final)}\n\n", f"data: {json.dumps(usage)}\n\n", "data: [DONE]\n\n"]
    blocks.append("".join(parts).encode())
    return blocks


def anthropic_stream(n: int) -> list[bytes]:
    def ev(obj: dict) -> str:
        return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n"

    parts = [
        ev({"type": "message_start", "message": {"id": "msg_bench", "type": "message", "role": "assistant",
            "model": "bench", "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    blocks = []
    for i in range(n):
        parts.append(ev({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "text_delta", "text": f"tok{i % 97} "}}))
        if len(parts) == 256:
            blocks.append("".join(parts).encode())
            parts = []
    parts += [
        ev({"type": "content_block_stop", "index": 0}),
        ev({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": n}}),
        ev({"type": "message_stop"}),
    ]
    blocks.append("".join(parts).encode())
    return blocks


def main() -> None:
    n = int(sys.argv[1])
    delay = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    openai_blocks, anthropic_blocks = openai_stream(n), anthropic_stream(n)
    server = WireServer()
    server.handle("/v1/chat/completions", lambda r: Reply(body=openai_blocks, pieces=None, delay_s=delay))
    server.handle("/chat/completions", lambda r: Reply(body=openai_blocks, pieces=None, delay_s=delay))
    server.handle("/v1/messages", lambda r: Reply(body=anthropic_blocks, pieces=None, delay_s=delay))
    server.start()
    print(server.url, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        server.stop()


if __name__ == "__main__":
    main()
