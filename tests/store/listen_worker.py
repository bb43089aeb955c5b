"""Host B of test_pushed_changes: waits on its store's change watch (LISTEN, no polling), lists
pending approvals each time a change is pushed, and prints every new id with the moment it
saw it."""

from __future__ import annotations

import json
import sys
import time

from opscopilot.store import Store


def main(url: str, expected: int) -> None:
    seen: set[str] = set()
    with Store.open(url) as store, store.watch_changes() as watch:
        assert watch.pushed
        print(json.dumps({"ready": True}), flush=True)
        wakeups = 0
        while len(seen) < expected:
            changes = watch.wait(60.0)
            if not changes:
                print(json.dumps({"timeout": True}), flush=True)
                return
            wakeups += 1
            for approval in store.list_approvals():
                if approval.id not in seen:
                    seen.add(approval.id)
                    print(json.dumps({"id": approval.id, "seen_at": time.time()}), flush=True)
        print(json.dumps({"wakeups": wakeups}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
