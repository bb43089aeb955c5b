"""Streams events, journals an effect, decides an approval, then keeps streaming until killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from opscopilot import events as ev
from opscopilot.store import Store


def main(path: str) -> None:
    store = Store.open(Path(path))
    for i in range(1000):
        store.append_event(ev.Notice(ts=float(i), turn_id="t1", message=f"before-{i}"))
    store.journal_intent("t1", "e1", "tool", {"name": "run_command"}, 1.0)
    store.save_snapshot("t1", {"state": "running_tools"}, 1.0)
    store.decide_approval("a1", decision="approved", operator="ann", host="h", decided_at=2.0)
    print("ready", flush=True)
    i = 0
    while True:  # a model still streaming when the process is killed
        store.append_event(ev.Notice(ts=float(i), turn_id="t1", message=f"after-{i}"))
        i += 1
        if i % 100 == 0:
            time.sleep(0.001)


if __name__ == "__main__":
    main(sys.argv[1])
