"""Writes the sample incident backlog (tickets.jsonl) and the log files its tickets attach.

Deterministic: run it again and the same bytes come out. The tickets are realistic in
shape (what on-call queues hold: alerts, customer reports, change requests) and every
piece of evidence they point to ships beside them, so a batch run over them gives the same
report on any machine. Run: python -m opscopilot.batch.sample.generate
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent

SERVICES = [
    ("payments-api", "nginx"),
    ("checkout-web", "nginx"),
    ("auth-service", "app"),
    ("orders-db", "postgres"),
    ("search-indexer", "app"),
    ("notifications", "app"),
    ("api-gateway", "nginx"),
    ("inventory-api", "app"),
    ("billing-worker", "app"),
    ("session-cache", "redis"),
    ("events-consumer", "kafka"),
    ("reporting-db", "postgres"),
]

START = datetime(2026, 11, 18, 2, 0, 0, tzinfo=UTC)


def _stamp(rng: random.Random, minutes: int) -> str:
    return (START + timedelta(minutes=minutes, seconds=rng.randint(0, 59))).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _log(rng: random.Random, service: str, kind: str, lines: list[str], noise: int = 6) -> str:
    out = []
    for i in range(noise):
        out.append(f"{_stamp(rng, i)} INFO {service}: request served in {rng.randint(8, 60)}ms")
    for j, line in enumerate(lines):
        out.append(f"{_stamp(rng, noise + j)} {line}")
    return "\n".join(out) + "\n"


# (archetype, severity, title template, body template, log lines template, count)
ARCHETYPES = [
    (
        "5xx",
        "sev1",
        "{svc} returning 502s to customers",
        "Synthetic checks fail since 02:10 UTC. Upstream timeouts in the {svc} logs. What is going on?",
        [
            "ERROR upstream timed out (110: Connection timed out) while reading response header from upstream",
            "ERROR upstream timed out (110: Connection timed out) while reading response header from upstream",
            "WARN 502 Bad Gateway returned for GET /v1/charge",
            "ERROR connect() failed (111: Connection refused)",
        ],
    ),
    (
        "disk",
        "sev2",
        "{svc}: disk almost full alert",
        "Alertmanager: filesystem /var at 96% on {svc}. Writes started failing. Please investigate.",
        [
            'ERROR could not write to file "pg_wal/xlogtemp": No space left on device',
            "WARN filesystem /var usage 96%",
            "ERROR No space left on device",
        ],
    ),
    (
        "oom",
        "sev2",
        "{svc} pods restarting (OOMKilled)",
        "Containers of {svc} keep getting killed. Memory climbs until the kernel kills the process.",
        [
            "ERROR Out of memory: Killed process 4121 ({svc}) total-vm:2048000kB",
            "WARN memory usage 93% of limit",
            "ERROR Out of memory: Killed process 4388 ({svc})",
        ],
    ),
    (
        "latency",
        "sev3",
        "{svc} p99 latency above SLO",
        "p99 went from 120 ms to 2.4 s over the last hour. No deploy today. Can you find the cause?",
        [
            "WARN slow query took 2412ms: SELECT * FROM orders WHERE customer_id = $1",
            "WARN slow query took 1980ms",
            "WARN request took 2544ms GET /v1/items",
        ],
    ),
    (
        "cert",
        "sev2",
        "TLS handshake failures on {svc}",
        "Clients report certificate errors when calling {svc}.",
        [
            "ERROR SSL_do_handshake() failed: certificate has expired",
            "ERROR TLS handshake error: x509: certificate has expired or is not yet valid",
        ],
    ),
    (
        "crash",
        "sev1",
        "{svc} crash loop after deploy",
        "{svc} crashes right after start since the 02:00 deploy. Please restart {svc} once the cause is known.",
        [
            "ERROR panic: runtime error: invalid memory address or nil pointer dereference",
            "ERROR Traceback (most recent call last): KeyError: 'FEATURE_FLAGS'",
            "ERROR process exited with status 2",
        ],
    ),
    (
        "pool",
        "sev2",
        "{svc}: too many connections",
        "Connection errors from {svc} to its database; the pool looks exhausted.",
        [
            "ERROR FATAL: sorry, too many clients already",
            "ERROR remaining connection slots are reserved",
            "WARN pool exhausted, waited 5000ms for a connection",
        ],
    ),
    (
        "lag",
        "sev3",
        "{svc} consumer lag growing",
        "Lag on topic orders.v1 is 1.2M messages and growing. Consumers seem slow.",
        [
            "WARN consumer group orders-cg lag 1203344",
            "WARN rebalance in progress, partitions revoked",
            "ERROR commit failed: CommitFailedException",
        ],
    ),
    (
        "auth",
        "sev3",
        "Spike of 401s on {svc}",
        "Login failures jumped tenfold at 02:30. Some customers locked out.",
        [
            "WARN 401 Unauthorized POST /v1/login",
            "WARN 401 Unauthorized POST /v1/login",
            "ERROR token signature verification failed: kid not found",
        ],
    ),
    (
        "restart",
        "sev4",
        "Change request: restart nginx on {svc}",
        "Config was updated by the platform team. Please restart nginx on {svc} to pick it up.",
        ["INFO configuration file /etc/nginx/nginx.conf test is successful"],
    ),
    (
        "cache",
        "sev3",
        "Stale prices served by {svc}: clear the cache",
        "Prices updated at 02:00 but {svc} still serves old ones. Please clear the cache.",
        [
            "WARN cache hit for price:sku-1201 age 7200s",
            "WARN cache hit for price:sku-8812 age 7200s",
        ],
    ),
    (
        "cleanup",
        "sev4",
        "Delete old logs on {svc}",
        "Log volume on {svc} keeps growing; please delete old logs older than 14 days.",
        ["WARN /var/log/{svc} holds 38G of rotated logs"],
    ),
]


def generate(out: Path = HERE) -> int:
    rng = random.Random(20261118)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    tickets = []
    number = 4100
    for round_ in range(10):
        for archetype, severity, title, body, lines in ARCHETYPES:
            service, _flavour = SERVICES[(round_ * 5 + len(tickets)) % len(SERVICES)]
            number += 1
            ticket_id = f"INC-{number}"
            log_name = f"logs/{ticket_id.lower()}-{service}.log"
            text = [line.format(svc=service) for line in lines]
            (out / log_name).write_text(
                _log(rng, service, archetype, text, noise=rng.randint(3, 8))
            )
            tickets.append(
                {
                    "id": ticket_id,
                    "title": title.format(svc=service),
                    "body": body.format(svc=service),
                    "severity": severity,
                    "service": service,
                    "attachments": [log_name],
                }
            )
    with (out / "tickets.jsonl").open("w", encoding="utf-8") as handle:
        for ticket in tickets:
            handle.write(json.dumps(ticket, ensure_ascii=False) + "\n")
    return len(tickets)


if __name__ == "__main__":
    print(f"wrote {generate()} tickets to {HERE / 'tickets.jsonl'}")
