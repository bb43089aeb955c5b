"""One of several processes hammering the same database (run by test_concurrency.py)."""

from __future__ import annotations

import json
import random
import sys
import time

from opscopilot import events as ev
from opscopilot.store import Store, StoreError


def main(path: str, worker: str, start_at: float, duration_s: float, shared: int) -> None:
    store = Store.open(path)  # a SQLite file or a store URL
    rng = random.Random(worker)
    approval_ids = [f"a{i}" for i in range(shared)]
    rng.shuffle(approval_ids)
    effect_ids = [f"e{i}" for i in range(shared)]
    rng.shuffle(effect_ids)
    report = {
        "worker": worker,
        "events": 0,
        "won": [],
        "conflicts": 0,
        "intents": [],
        "turns": 0,
        "errors": [],
    }
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.time() + duration_s
    round_number = 0
    try:
        while time.time() < deadline or approval_ids or effect_ids:
            for _ in range(rng.randint(1, 60)):
                store.append_event(
                    ev.ModelText(
                        ts=time.time(),
                        session_id="s1",
                        turn_id=f"turn-{worker}",
                        call_id="c",
                        text=f"{worker}:{report['events']}",
                    )
                )
                report["events"] += 1
            if approval_ids:
                approval_id = approval_ids.pop()
                try:
                    store.decide_approval(
                        approval_id,
                        decision="approved",
                        operator=worker,
                        host="test",
                        decided_at=time.time(),
                    )
                    report["won"].append(approval_id)
                except StoreError as exc:
                    if exc.kind != "conflict":
                        raise
                    report["conflicts"] += 1
            if effect_ids:
                effect_id = effect_ids.pop()
                if store.journal_intent("t1", effect_id, "tool", {"by": worker}, time.time()):
                    report["intents"].append(effect_id)
            round_number += 1
            if round_number % 5 == 0:
                store.create_turn(f"{worker}-{round_number}", "s1", "p", "builtin:ops", time.time())
                report["turns"] += 1
        store.flush()
    except Exception as exc:  # reported to the test, which fails on any
        report["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        store.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
