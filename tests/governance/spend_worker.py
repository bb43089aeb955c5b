"""One of many processes spending against the same day cap (run by test_caps_across_processes).

It opens the governor on the store URL it is given, says "ready", waits for "go" on stdin (so
every process starts at once), then calls `builtin:ops` until the caps refuse a call, and
prints what it did as one JSON line.
"""

from __future__ import annotations

import json
import sys

import anyio

from opscopilot.governance import Governor
from opscopilot.governance.wiring import governed_client
from opscopilot.llm.types import LLMError, Message, ModelSpec, Request

BUILTIN = ModelSpec(provider="builtin", model="ops")
MAX_CALLS = 400  # a bound in case the cap never bites; the test asserts it did


async def main(url: str) -> None:
    governor = Governor.open(ledger_path=url)
    client = governed_client(governor)
    request = Request(model="ops", messages=[Message.user("how busy is the cpu")], max_tokens=200)
    report = {"calls": 0, "cut_off": 0, "refused": 0, "errors": []}
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        for _ in range(MAX_CALLS):
            try:
                async for event in client.stream([BUILTIN], request):
                    if event.type == "error":
                        raise event.error  # type: ignore[union-attr]
            except LLMError as exc:
                if exc.kind != "budget":
                    report["errors"].append(f"{exc.kind}: {exc}")
                    break
                if "cut off" in str(exc):
                    report["cut_off"] += 1
                    continue
                report["refused"] += 1
                break
            report["calls"] += 1
    finally:
        await client.aclose()
        governor.close()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
