"""Makes the sample recordings in recordings/ by running opscopilot itself.

Each sample is a real session: the `opscopilot` command line in a throwaway
OPSCOPILOT_HOME, real tools on this machine, the real store, exported with
`opscopilot sessions export`. The offline builtin:ops model answers where it can; where a
sample needs what builtin:ops never does (a long answer to cut off, a provider failing), the
model is a scripted OpenAI-compatible server on loopback, and the recording's label says so.

Run from the repository root: python -m tests.support.make_sample_recordings
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from opscopilot import __version__
from tests.support.wire_server import Reply, WireServer, json_reply, sse

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "recordings"


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-sample",
        "object": "chat.completion.chunk",
        "model": "sample-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class Session:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = {
            **os.environ,
            **env,
            "OPSCOPILOT_HOME": str(home),
            "OPSCOPILOT_OPERATOR": "alice",
        }

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "opscopilot", *args],
            env=self.env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    def run_json(self, *args: str) -> dict:
        return json.loads(self.cli("run", *args, "--json").stdout)

    def export(self, session_id: str, name: str, label: str) -> Path:
        path = OUT / name
        done = self.cli(
            "sessions",
            "export",
            session_id,
            "-o",
            str(path),
            "--label",
            f"sample made with opscopilot {__version__}: {label}",
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        return path


def fresh(env: dict[str, str] | None = None, config: str = "") -> Session:
    home = Path(tempfile.mkdtemp(prefix="opscopilot-sample-"))
    if config:
        (home / "config.toml").write_text(config)
    return Session(home, env or {})


def disk_and_memory() -> Path:
    s = fresh()
    out = s.run_json("how full are the disks and how much memory is free?")
    return s.export(
        out["session_id"],
        "01-disk-and-memory.jsonl",
        "builtin:ops streams a plan, runs two read-only diagnostics, summarises them",
    )


def approved_with_edit() -> Path:
    s = fresh()
    out = s.run_json("restart nginx please")
    (approval,) = out["pending_approvals"]
    s.cli(
        "approvals",
        "approve",
        approval,
        "--args",
        json.dumps({"command": "systemctl status nginx --no-pager"}),
        "--operator",
        "alice",
    )
    s.cli("resume", out["turn_id"], "--json")
    return s.export(
        out["session_id"],
        "02-approval-edited.jsonl",
        "a restart waits for approval; the operator edits it into a status check "
        "and approves; the edited call runs",
    )


def denied() -> Path:
    s = fresh()
    out = s.run_json("restart nginx")
    (approval,) = out["pending_approvals"]
    s.cli(
        "approvals",
        "deny",
        approval,
        "--reason",
        "change freeze until Monday",
        "--operator",
        "alice",
    )
    s.cli("resume", out["turn_id"], "--json")
    return s.export(
        out["session_id"],
        "03-denied.jsonl",
        "a restart waits for approval; the operator denies it with a reason, "
        "which the model acknowledges",
    )


def budget_cutoff() -> Path:
    words = [
        f"Line {i}: the upstream pool on gw-{i % 7} is saturated; retrying with backoff."
        for i in range(400)
    ]
    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": w + "\n"}) for w in words]
    events += [chunk({}, "stop"), "[DONE]"]
    with WireServer(seed=1) as server:
        server.handle("/v1/chat/completions", lambda r: Reply(body=sse(*events), delay_s=0.002))
        s = fresh(
            {
                "OPENAI_BASE_URL": server.url + "/v1",
                "OPENAI_API_KEY": "sk-sample-not-a-real-key-000",
            },
            '[models."openai:sample-model"]\nprice = {input = 2.0, output = 8.0}\n',
        )
        out = s.run_json(
            "explain the gateway saturation in detail",
            "--model",
            "openai:sample-model",
            "--max-cost",
            "0.004",
        )
    return s.export(
        out["session_id"],
        "04-budget-cutoff.jsonl",
        "model is a scripted OpenAI-compatible server on loopback; a long answer is "
        "cut off mid-stream by --max-cost, the partial text kept",
    )


def provider_error() -> Path:
    with WireServer(seed=2) as server:
        server.expect(
            "/v1/chat/completions",
            json_reply(
                503,
                {"error": {"message": "The server is overloaded", "type": "server_error"}},
                {"retry-after": "0.2"},
            ),
            Reply(
                body=sse(
                    chunk({"role": "assistant", "content": ""}),
                    chunk({"content": "Checking the "}),
                    {"error": {"message": "upstream model crashed", "type": "server_error"}},
                )
            ),
        )
        s = fresh(
            {
                "OPENAI_BASE_URL": server.url + "/v1",
                "OPENAI_API_KEY": "sk-sample-not-a-real-key-000",
            }
        )
        out = s.run_json("why is checkout slow?", "--model", "openai:sample-model")
    return s.export(
        out["session_id"],
        "05-provider-error.jsonl",
        "model is a scripted OpenAI-compatible server on loopback: a 503 is retried, "
        "then the stream fails mid-answer; the turn fails with the error kept",
    )


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for make in (disk_and_memory, approved_with_edit, denied, budget_cutoff, provider_error):
        path = make()
        print(f"{path.relative_to(ROOT)}: {sum(1 for _ in path.open()) - 1} events")


if __name__ == "__main__":
    main()
