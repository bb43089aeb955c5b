"""A batch worker on a host of its own (tests/store/hosts.py): inside its network namespace the
test's loopback model is out of reach, so this host serves the same loopback ticket model on
its own loopback, prints the worker's pid (`{"pid": N}`), and runs the command that follows
against it. Killing the process group kills the host whole: model, worker and all.

Usage: python -m tests.batch.namespaced_worker LATENCY_S COMMAND...
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.ticket_model import model_env, serve_tickets
from tests.support.wire_server import WireServer


def main(latency_s: float, command: list[str]) -> int:
    with WireServer(seed=7) as model:
        serve_tickets(model, latency_s=latency_s)
        worker = subprocess.Popen(command, env={**os.environ, **model_env(model)})
        print(json.dumps({"pid": worker.pid}), flush=True)
        return worker.wait()


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]), sys.argv[2:]))
