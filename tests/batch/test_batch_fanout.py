"""One batch run worked by several workers: real `opscopilot batch --run NAME` processes with
their own OPSCOPILOT_HOMEs on one store (a real PostgreSQL server, or one SQLite file),
against a loopback ticket model; one worker, on a host of its own, is SIGKILLed twice
mid-ticket (the whole host), each kill driven by the store's progress (the ticket it holds has
a journal row), never by the clock. On PostgreSQL that host is a process in network and UTS
namespaces of its own where the machine allows it (tests/store/hosts.py: its own hostname and
loopback, with its own ticket model on it, the store reached through the server's Unix
socket); elsewhere, and on SQLite, a UTS namespace (its own hostname) or a plain process. On
another hostname its tickets go to the others only once its lease runs out."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.store import hosts
from tests.support.ticket_model import MODEL, model_env, serve_tickets
from tests.support.wire_server import WireServer

SAMPLE = Path(__file__).resolve().parents[2] / "opscopilot" / "batch" / "sample" / "tickets.jsonl"
VOLATILE = ("session_id", "turn_id", "pending_approvals")
ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 240  # a safety net for a hung worker, never what a test waits for


@pytest.fixture
def ticket_model() -> Iterator[WireServer]:
    with WireServer(seed=7) as server:
        serve_tickets(server, latency_s=0.02)
        yield server


def backlog(tmp_path: Path, count: int) -> Path:
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:count]))
    (tmp_path / "logs").symlink_to(SAMPLE.parent / "logs")
    return tickets


class Store:
    """The test's own look into the shared store (SQL here is the test's, not the product's)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, params: list[Any] = ()) -> list[tuple]:  # type: ignore[assignment]
        if self.url.startswith("sqlite:///"):
            with sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30) as db:
                try:
                    return db.execute(sql, params).fetchall()
                except sqlite3.OperationalError:  # the tables are not there yet
                    return []
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            try:
                return db.execute(sql.replace("?", "%s"), params).fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    def held_mid_ticket(self, pid: int) -> list[str]:
        """Tickets a worker process holds whose turn has begun its effects (a journal row)."""
        return [
            row[0]
            for row in self.rows(
                "SELECT DISTINCT b.ticket_id FROM batch_items b JOIN turns t "
                "ON t.session_id = b.session_id JOIN journal j ON j.turn_id = t.id "
                "WHERE b.status = 'running' AND b.worker_pid = ?",
                [pid],
            )
        ]

    def running(self, pid: int) -> list[str]:
        return [
            row[0]
            for row in self.rows(
                "SELECT ticket_id FROM batch_items WHERE status = 'running' AND worker_pid = ?",
                [pid],
            )
        ]


def normalised(report: Path) -> list[dict]:
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    for line in lines:
        for key in VOLATILE:
            line.pop(key, None)
    return lines


def environment(home: Path, url: str, server: WireServer) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return {
        **env,
        **model_env(server),
        "OPSCOPILOT_HOME": str(home),
        "OPSCOPILOT_STORE": url,
        "PYTHONPATH": str(ROOT),
    }


def own_host_prefix(socket_url: str | None) -> tuple[list[str], bool]:
    """Run a worker as another host when this machine allows it, so its tickets go to the
    others only when its lease runs out (not because its pid is gone): in network and UTS
    namespaces of its own when the store has a Unix socket to reach it by, else with only a
    hostname of its own. The prefix, and whether the worker is in its own network namespace."""
    if socket_url is not None and hosts.unavailable() is None:
        return [*hosts.namespaced("worker-c"), sys.executable, "-m",
                "tests.batch.namespaced_worker", "0.02"], True  # fmt: skip
    unshare = shutil.which("unshare")
    if unshare is None:
        return [], False
    probe = subprocess.run([unshare, "--uts", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return [], False
    return [unshare, "--uts", "sh", "-c", 'hostname worker-c && exec "$@"', "sh"], False


def start(env: dict[str, str], tickets: Path, report: Path, *args: str, prefix=()) -> Any:
    log = (report.parent / f"{report.stem}.stderr").open("a")
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "opscopilot", "batch", str(tickets), "-o", str(report),
         "--model", MODEL, *args],
        env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
    )  # fmt: skip


def worker_pid(process: Any, namespaced: bool) -> int:
    """The batch worker's own pid (a namespaced host says it first, on its stdout)."""
    return json.loads(process.stdout.readline())["pid"] if namespaced else process.pid


def kill_mid_ticket(store: Store, process: Any, pid: int) -> list[str]:
    """SIGKILL the host of worker `pid` (its process group) once the worker holds a ticket
    whose turn has begun; the tickets it held."""
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not store.held_mid_ticket(pid):
            assert process.poll() is None, "the worker ended before it could be killed"
            assert time.monotonic() < deadline, "the worker never held a ticket"
            time.sleep(0.01)  # polling the store's progress; the kill waits on it, not on time
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return store.running(pid)


def single_worker_report(tmp_path: Path, tickets: Path, url: str, server: WireServer) -> list:
    report = tmp_path / "single.jsonl"
    env = environment(tmp_path / "single-home", url, server)
    done = start(env, tickets, report, "--concurrency", "4", "-q")
    out, _ = done.communicate(timeout=DEADLINE_S)
    assert done.returncode == 0, why(out, report)
    return normalised(report)


def why(out: str, report: Path) -> str:
    """What a worker that failed said, and its report's lines that did not complete."""
    stderr = report.with_suffix(".stderr").read_text()[-1500:]
    lines = report.read_text().splitlines() if report.exists() else []
    failed = [line[:600] for line in lines if '"status": "completed"' not in line]
    return "\n".join([out[-500:], stderr, *failed[:3]])


def fan_out_with_two_kills(
    tmp_path: Path, count: int, url: str, single_url: str, server, socket_url: str | None = None
):
    tickets = backlog(tmp_path, count)
    single = single_worker_report(tmp_path, tickets, single_url, server)
    assert [line["id"] for line in single] == [json.loads(t)["id"] for t in tickets.open()]
    assert {line["status"] for line in single} == {"completed"}

    store = Store(url)
    run = ("--run", "night", "--concurrency", "2")
    homes = {name: tmp_path / f"home-{name}" for name in "abcr"}
    envs = {name: environment(home, url, server) for name, home in homes.items()}
    (homes["c"] / "config.toml").write_text("[batch]\nlease_s = 2\n")
    prefix, namespaced = own_host_prefix(socket_url)
    if namespaced:  # no route to the server's TCP port from there
        envs["c"]["OPSCOPILOT_STORE"] = socket_url  # type: ignore[assignment]

    # Worker C alone, killed once it is mid-ticket; then C again beside A and B, killed again.
    c1 = start(envs["c"], tickets, tmp_path / "c.jsonl", *run, prefix=prefix)
    dead = {worker_pid(c1, namespaced)}
    interrupted = kill_mid_ticket(store, c1, *dead)
    if prefix:  # its claims name its own host, where the others cannot look for its pid
        held_on = store.rows(
            "SELECT DISTINCT worker_host FROM batch_items WHERE status = 'running'"
        )
        assert [host.split("/")[0] for (host,) in held_on] == ["worker-c"]  # name/boot/pidns
    workers = {name: start(envs[name], tickets, tmp_path / f"{name}.jsonl", *run) for name in "ab"}
    c2 = start(envs["c"], tickets, tmp_path / "c.jsonl", *run, prefix=prefix)
    dead.add(pid := worker_pid(c2, namespaced))
    interrupted += kill_mid_ticket(store, c2, pid)
    assert interrupted, "no kill caught a ticket in flight"
    completed_here = 0
    for name, worker in workers.items():
        out, _ = worker.communicate(timeout=DEADLINE_S)
        assert worker.returncode == 0, why(out, tmp_path / f"{name}.jsonl")
        assert f"{count} tickets · {count} completed" in out
        completed_here += "run night: completed here" in out
    assert completed_here == 1  # one worker settled the last ticket

    # Every worker that finished wrote the whole run's report, equal to the single worker's.
    for name in "ab":
        assert normalised(tmp_path / f"{name}.jsonl") == single
    rewritten = subprocess.run(
        [sys.executable, "-m", "opscopilot", "batch", "report", "night", "-o",
         str(tmp_path / "again.jsonl")],
        env=envs["r"], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert rewritten.returncode == 0, rewritten.stderr
    assert f"{count} tickets · {count} completed" in rewritten.stdout
    assert normalised(tmp_path / "again.jsonl") == single

    # Each ticket recorded once, by one worker; the interrupted ones by a worker that took
    # them over (claimed again), each resuming its one turn.
    items = store.rows("SELECT ticket_id, status, claims, finished_by, worker_pid FROM batch_items")
    assert len(items) == count and {row[1] for row in items} == {"done"}
    claims = {row[0]: row[2] for row in items}
    assert all(claims[ticket] >= 2 for ticket in interrupted)
    assert not any(row[4] in dead for row in items if row[0] in interrupted)
    turns = Counter(row[0] for row in store.rows("SELECT session_id FROM turns"))
    assert len(turns) == count and set(turns.values()) == {1}
    progress = Counter(
        line.split()[1]
        for name in "abc"
        for line in (tmp_path / f"{name}.stderr").read_text().splitlines()
        if line.startswith("[")
    )
    assert max(progress.values()) == 1  # no ticket reported twice, whoever worked it

    # No tool ran twice: per turn and tool call at most one run finished; a run cut short by
    # a kill (an intent with no result) was a read, the only kind made again.
    runs = [
        (effect.rsplit("-", 1)[0], status, json.loads(payload))
        for effect, status, payload in store.rows(
            "SELECT effect_id, status, payload FROM journal WHERE kind = 'tool_run'"
        )
    ]
    finished = Counter((turn, p["tool_call_id"]) for turn, status, p in runs if status != "intent")
    assert len(finished) == count and max(finished.values()) == 1
    assert all(p["risk"] == "read" for _turn, status, p in runs if status == "intent")


def test_three_workers_on_postgresql_one_killed_twice_report_like_one_worker(
    tmp_path: Path, postgres_server, ticket_model: WireServer
):
    single = f"sqlite:///{tmp_path / 'single.db'}"  # one worker's report, on its own store
    url = postgres_server.new_database()
    socket_url = hosts.socket_url(postgres_server, url)
    fan_out_with_two_kills(tmp_path, 20, url, single, ticket_model, socket_url)


@pytest.mark.slow
def test_three_workers_on_one_sqlite_file_one_killed_twice_report_like_one_worker(
    tmp_path: Path, ticket_model: WireServer
):
    url, single = f"sqlite:///{tmp_path / 'team.db'}", f"sqlite:///{tmp_path / 'single.db'}"
    fan_out_with_two_kills(tmp_path, 40, url, single, ticket_model)


@pytest.mark.slow
def test_the_120_ticket_sample_by_three_workers_one_killed_twice(
    tmp_path: Path, postgres_server, ticket_model: WireServer
):
    single = f"sqlite:///{tmp_path / 'single.db'}"
    fan_out_with_two_kills(tmp_path, 120, postgres_server.new_database(), single, ticket_model)


def test_the_report_of_an_unknown_run_is_one_line_and_exit_2(tmp_path: Path):
    env = {**os.environ, "OPSCOPILOT_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "opscopilot", "batch", "report", "no-such-run"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "error: no batch run 'no-such-run' in this store"
