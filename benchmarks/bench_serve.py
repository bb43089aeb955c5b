"""`opscopilot serve`: how fast the page answers, how soon it hears of a change, how close to
its deadline an expiry is recorded.

The real `opscopilot serve` on a loopback port (its own process), a real store
in a throwaway OPSCOPILOT_HOME, approvals planted as the runtime stores them:

- GET /api/approvals and GET / (the page) with N pending approvals, median ms;
- POST /api/approvals/ID/approve, median ms;
- store commit → the page's event stream says `changed`, median and max ms (what "updates
  without a reload" costs before the page fetches the list);
- expiry lag: decided_at − expires_at of approvals nobody reads, recorded by serve's sweeper
  (`on_expiry = "deny"`), median and max ms (the contract: under 1 s).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    console_script,
    isolated_home,
    markdown_table,
    median,
    spread,
    write_results,
)


def _plant(store, count: int, *, prefix: str, expires_in: float | None = None) -> list[str]:
    from opscopilot.store import ApprovalRecord

    now = time.time()
    ids = []
    for i in range(count):
        session, turn = f"s-{prefix}{i}", f"t-{prefix}{i}"
        store.create_session(session, "builtin:ops", f"restart worker {i}", now)
        store.create_turn(turn, session, f"restart worker {i}", "builtin:ops", now)
        record = ApprovalRecord(
            id=f"{turn}-a1",
            session_id=session,
            turn_id=turn,
            tool_call_id="c1",
            tool="run_command",
            arguments={"command": f"systemctl restart worker@{i}"},
            risk="write",
            reason="write: systemctl restart changes service state",
            call_hash=f"{i:064d}",
            requested_at=now,
            expires_at=None if expires_in is None else now + expires_in + i * 0.1,
        )
        store.create_approval(record)
        ids.append(record.id)
    return ids


def _server():
    """The real `opscopilot serve` in its own process (so it never shares our GIL)."""
    import httpx

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen(
        [console_script(), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/static/app.css", timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("opscopilot serve did not start")


def _timed(call, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description="opscopilot serve: latency of the page and API")
    parser.add_argument("--sizes", default="10,100", help="pending approvals, comma-separated")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--expiries", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats, args.expiries = "5", 3, 3
    import httpx

    from opscopilot import config

    rows, samples = [], {}
    with isolated_home() as home:
        (home / "config.toml").write_text('[approvals]\non_expiry = "deny"\n')
        config._cached_config.cache_clear()
        from opscopilot.store import Store
        from opscopilot.web.operators import Operators

        operators = Operators.open()
        token = operators.add("bench")
        operators.close()
        store = Store.open()
        server, url = _server()
        headers = {"authorization": f"Bearer {token}"}
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                planted = 0
                for size in [int(s) for s in args.sizes.split(",")]:
                    _plant(store, size - planted, prefix=f"n{size}-")
                    planted = size
                    assert len(client.get("/api/approvals").json()) == size
                    for name, path in (
                        ("GET /api/approvals", "/api/approvals"),
                        ("GET / (page)", "/"),
                    ):
                        key = f"{name} @{size}"
                        samples[key] = _timed(
                            lambda p=path: client.get(p).raise_for_status(), args.repeats
                        )
                        rows.append(
                            [name, size, f"{median(samples[key]):.1f} ms", spread(samples[key]), ""]
                        )
                pending = [item["id"] for item in client.get("/api/approvals").json()]
                decide = iter(pending)
                key = "POST approve"
                samples[key] = _timed(
                    lambda: client.post(
                        f"/api/approvals/{next(decide)}/approve"
                    ).raise_for_status(),
                    min(args.repeats, len(pending)),
                )
                rows.append(
                    [
                        key,
                        planted,
                        f"{median(samples[key]):.1f} ms",
                        spread(samples[key]),
                        "one atomic store write",
                    ]
                )

                # store commit -> `changed` on the page's event stream
                heard = []
                with client.stream("GET", "/events") as stream:
                    lines = stream.iter_lines()
                    for i in range(args.repeats):
                        committed = time.perf_counter()
                        _plant(store, 1, prefix=f"sse{i}-")
                        for line in lines:
                            if line.startswith("event: changed"):
                                heard.append((time.perf_counter() - committed) * 1000)
                                break
                samples["commit to changed"] = heard
                rows.append(
                    [
                        "store commit → page told",
                        "",
                        f"{median(heard):.0f} ms",
                        spread(heard),
                        f"max {max(heard):.0f} ms",
                    ]
                )

            ids = _plant(store, args.expiries, prefix="exp-", expires_in=0.5)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                records = [store.get_approval(i) for i in ids]
                if all(r.status != "pending" for r in records):
                    break
                time.sleep(0.05)
            lags = [(r.decided_at - r.expires_at) * 1000 for r in records if r.status == "expired"]
            assert len(lags) == len(ids), "not every approval was recorded expired"
            samples["expiry lag"] = lags
            rows.append(
                [
                    "expiry recorded after deadline",
                    len(lags),
                    f"{median(lags):.0f} ms",
                    spread(lags),
                    f"max {max(lags):.0f} ms (contract < 1000)",
                ]
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
            store.close()
    table = markdown_table(["measure", "pending", "median", "spread", "note"], rows)
    write_results("serve", {"samples": samples, "table": table})
    print(f"\n### opscopilot serve ({args.repeats} repeats, medians)\n\n{table}\n")


if __name__ == "__main__":
    main()
