"""Helpers for the MCP tests: config.toml with `[mcp_servers.*]` and a scripted model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.runtime.support import CHAT_PATH, text_reply, tool_call_reply
from tests.support.wire_server import RecordedRequest, Reply, WireServer

OPS_SERVER = str(Path(__file__).parent / "servers" / "ops_server.py")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def write_mcp_config(home: Path, servers: dict[str, dict[str, Any]], extra: str = "") -> None:
    lines = ['[defaults]\nmodel = "openai:gpt-4o-mini"\n']
    for name, table in servers.items():
        lines.append(f"[mcp_servers.{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
        lines.append("")
    (home / "config.toml").write_text("\n".join(lines) + extra)


def ops_server(*flags: str, **table: Any) -> dict[str, Any]:
    return {"command": [sys.executable, OPS_SERVER, *flags], **table}


def tool_rounds(request: RecordedRequest) -> int:
    """How many rounds of tool calls the conversation of this request already holds."""
    return sum(
        1 for m in request.json()["messages"] if m["role"] == "assistant" and m.get("tool_calls")
    )


def script_model(server: WireServer, rounds: list[list[tuple[str, dict[str, Any]]]]) -> None:
    """Round i asks for the tools of rounds[i]; after the last round the model sums up the
    tool results it saw."""

    def answer(request: RecordedRequest) -> Reply:
        done = tool_rounds(request)
        if done < len(rounds):
            calls = [
                (f"call_{done}_{i}", name, args) for i, (name, args) in enumerate(rounds[done])
            ]
            return tool_call_reply(*calls)
        results = [m["content"] for m in request.json()["messages"] if m["role"] == "tool"]
        return text_reply("Summary: " + " | ".join(r.replace("\n", " ")[:80] for r in results))

    server.handle(CHAT_PATH, answer)


def tool_messages(server: WireServer) -> list[dict[str, Any]]:
    last = server.requests_to(CHAT_PATH)[-1].json()
    return [m for m in last["messages"] if m["role"] == "tool"]
