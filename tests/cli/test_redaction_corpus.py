"""The redaction corpus: real-looking credentials a model echoes, in streamed text split
across deltas and in tool-call arguments, through a real `opscopilot run` (pause, deny,
resume), `prompt`, `--record`, `sessions export` and `sessions show`; none may reach the
SQLite file, the recording, the export, `sessions show` or stdout."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from opscopilot import redact
from tests.runtime.support import CHAT_PATH, chunk, cli_env, opscopilot, usage_chunk
from tests.support.wire_server import RecordedRequest, Reply, sse

# A value no rule knows the shape of: masked only because the process knows it.
ENV_SECRET = "q7Zr4Lm2Wx9Kp3Vt8Hn5"  # ACME_SERVICE_TOKEN, from the environment
CONFIG_SECRET = "Tz8Qw2Ly6Ud4Jm1Rc9Ae"  # [providers.acme] api_key, from config.toml

B64 = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0"
CREDENTIALS: dict[str, str] = {
    "aws-access-key-id": "AKIAZ7QH3KXW5PLM2RTE",
    "aws-secret-key": "aws_secret_access_key = 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",
    "aws-session-key-id": "ASIAQ4NR7TXPLZ2M9KWE",
    "pem-private-key": f"-----BEGIN RSA PRIVATE KEY-----\n{B64}\n{B64[::-1]}\n"
    "-----END RSA PRIVATE KEY-----",
    "openssh-private-key": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{B64[5:]}\n"
    "-----END OPENSSH PRIVATE KEY-----",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvcHMtYm90Iiwicm9sZSI6ImFkbWluIn0"
    ".Qm9ndXNTaWduYXR1cmVGb3JUZXN0c09ubHkxMjM0",
    "slack-bot": "xoxb-2741835602-5836214790137-Qh7TzK2mWv9LpXr4NcB8sDyE",
    "slack-user": "xoxp-2741835602-9182736450-5836214790137-a8f3c2d9e7b14f6a0c5e",
    "slack-webhook": "https://hooks.slack.com/services/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",
    "stripe-live": "sk_live_51NzQ7kHf3Lm9Xw2Tp8Rv4Bc6Jd1Ys0Ea5Gu",
    "stripe-restricted": "rk_live_51NzQ7kHf3Lm9Xw2Tp8Rv4Bc6Jd1Ys0Ea5Gu",
    "github-classic": "ghp_R7kT2mQ9xW4vL8pZ3nB6cJ1dY5sH0aE2fG7u",
    "github-oauth": "gho_Lm3Qw8Tz2Xr7Vp4Kn9Bd6Hc1Js5Ye0Ua2Fg8i",
    "github-fine-grained": "github_pat_11AB7KQ3Y0Zr8Tm2Lw6Xp4_Vn9Bc3Hd7Js1Ye5Ua0Fg8iKq2Mr6Tz4Lw9Xp3Vn7Bc",
    "gitlab": "glpat-Xk9Lq2Tw7Rz4Mp8Vn3Bc",
    "huggingface": "hf_QmXtLrZwKpVnBcHdJsYeUaFgIkMrTzLwXpVnBc",
    "openai-project": "sk-proj-Rk7Tm2Qx9Wv4Lp8Zn3Bc6Jd1Ys5He0Ua2Fg7iKq3Mr8Tz",
    "openai-legacy": "sk-Rk7Tm2Qx9Wv4Lp8Zn3Bc6Jd1Ys5He0Ua2Fg7iKq3M",
    "anthropic": "sk-ant-api03-Rk7Tm2Qx9Wv4Lp8Zn3Bc6Jd1Ys5He0Ua2Fg7iKq3Mr8Tz-AbCdEf",
    "google-api-key": "AIzaSyD7kT2mQ9xW4vL8pZ3nB6cJ1dY5sH0aE2f",
    "azure-storage": "DefaultEndpointsProtocol=https;AccountName=opsdiag;"
    "AccountKey=Qm9ndXNBenVyZUtleUZvclRlc3RzT25seTEyMzQ1Njc4OTBhYmNkZWY=;"
    "EndpointSuffix=core.windows.net",
    "azure-sas": "https://opsdiag.blob.core.windows.net/logs?sv=2022-11-02&ss=b&srt=co"
    "&sig=Rk7Tm2Qx9Wv4Lp8Zn3Bc%2BJd1Ys5He0Ua2Fg7iKq3Mr8%3D",
    "postgres-url": "postgres://app_rw:Wint3r-is-C0ming!@db.internal:5432/orders",
    "redis-url": "redis://default:Rd5-pa55w0rd-x9@cache.internal:6379/0",
    "basic-header": "Authorization: Basic b3BzYm90OlN1cGVyU2VjcmV0UGFzczEyMw==",
    "bearer-header": "Authorization: Bearer 8f3c2d9e7b14f6a0c5e1d2b3a4f5e6d7",
    "npm": "npm_Rk7Tm2Qx9Wv4Lp8Zn3Bc6Jd1Ys5He0Ua2Fg7i",
    "pypi": "pypi-AgEIcHlwaS5vcmcCJGRmNTJlYjU0LTQ4ZjAtNDM3Ny1hNzYyLTc0NjRkYzU0ZDQ5NgACKlszLCJhIl0",
    "sendgrid": "SG.Rk7Tm2Qx9Wv4Lp8Zn3Bc6J.d1Ys5He0Ua2Fg7iKq3Mr8Tz4Lw9Xp3Vn7Bc2Hd6Js1Ye5Ua",
    "twilio-api-key": "SK3f9a2c7d1e8b4f6a0c5e9d2b7a4f1e8c",
    "datadog": "DD_API_KEY=4f1e8c3f9a2c7d1e8b4f6a0c5e9d2b7a",
    "netrc": "machine api.internal login deploy password Pr0d-Depl0y-9931",
    "password-json": '{"db_password": "Tr0ub4dor-and-3"}',
    "gcp-oauth-token": "ya29.a0AfB_byC7kT2mQ9xW4vL8pZ3nB6cJ1dY5sH0aE2f",
    "vault": "hvs.CAESIRk7Tm2Qx9Wv4Lp8Zn3Bc6Jd1Ys5He0Ua2Fg",
    "digitalocean": "dop_v1_" + "3f9a2c7d1e8b4f6a0c5e9d2b7a4f1e8c" * 2,
    "opscopilot-operator": "ocp_Rk7Tm2Qx9Wv-4Lp8Zn3Bc6Jd1Ys5He0Ua2_Fg7iKq3M",
    "env-known-value": ENV_SECRET,
    "config-known-value": CONFIG_SECRET,
}


def secret_parts(value: str) -> list[str]:
    """The pieces of a credential that must never show: its masked parts, long enough to
    be unambiguous (labels such as "Authorization: Basic" may stay)."""
    masked = redact.redact(value)
    assert redact.MASK in masked or value in (ENV_SECRET, CONFIG_SECRET), value
    pieces = [value] if value in (ENV_SECRET, CONFIG_SECRET) else []
    # What the mask replaced: the text of `value` that is not in the masked form.
    for kept in masked.split(redact.MASK):
        value = value.replace(kept, "\0") if kept else value
    pieces += [p for p in value.split("\0") if len(p) >= 8]
    return pieces


def split_stream(text: str, rng: random.Random) -> list[dict[str, Any]]:
    """Text deltas cut at random places, so credentials arrive in pieces."""
    deltas, position = [], 0
    while position < len(text):
        step = rng.randint(1, 9)
        deltas.append(chunk({"content": text[position : position + step]}))
        position += step
    return deltas


def answer(text: str, rng: random.Random, calls: list[tuple[str, str, dict]] = ()) -> Reply:
    events: list[Any] = [chunk({"role": "assistant", "content": ""}), *split_stream(text, rng)]
    for index, (call_id, name, arguments) in enumerate(calls):
        encoded = json.dumps(arguments)
        events.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for start in range(0, len(encoded), 7):  # arguments cut in pieces too
            piece = encoded[start : start + 7]
            events.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    finish = "tool_calls" if calls else "stop"
    events += [chunk({}, finish), usage_chunk(), "[DONE]"]
    return Reply(body=sse(*events))


def prose() -> str:
    return "".join(f"Found {name}: {value} in the logs.\n" for name, value in CREDENTIALS.items())


def write_config(home: Path) -> None:
    (home / "config.toml").write_text(
        '[defaults]\nmodel = "openai:gpt-4o-mini"\n\n'
        "[providers.acme]\n"
        'adapter = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        f'api_key = "{CONFIG_SECRET}"\n\n'
        "[tools.echo_note]\n"
        'description = "Echo a note"\ncommand = ["echo", "{text}"]\nrisk = "read"\n'
        '[tools.echo_note.params.text]\ntype = "string"\ndescription = "the note"\n\n'
        "[tools.file_ticket]\n"
        'description = "File a ticket"\ncommand = ["true", "{text}"]\nrisk = "write"\n'
        '[tools.file_ticket.params.text]\ntype = "string"\ndescription = "the ticket"\n'
    )


def test_no_credential_reaches_disk_or_stdout(wire_server, isolated_home: Path) -> None:
    write_config(isolated_home)
    env = cli_env(isolated_home, wire_server)
    env["ACME_SERVICE_TOKEN"] = ENV_SECRET
    rng = random.Random(9)
    everything = "\n".join(CREDENTIALS.values())

    def model(request: RecordedRequest) -> Reply:
        tool_messages = [m for m in request.json()["messages"] if m.get("role") == "tool"]
        if not tool_messages:
            calls = [
                ("call_echo", "echo_note", {"text": everything}),
                ("call_ticket", "file_ticket", {"text": everything}),
            ]
            return answer(prose(), rng, calls)
        return answer("Summary. " + prose(), rng)

    wire_server.handle(CHAT_PATH, model)
    recording = isolated_home / "corpus.jsonl"
    paused = opscopilot("run", "look at the logs", f"--record={recording}", env=env)
    assert paused.returncode == 3, paused.stderr
    turn_id = paused.stdout.split("paused: turn ", 1)[1].split()[0]
    # An approval's id is its turn's id, "-a" and a number (a turn id may contain "-a" too).
    approval_id = next(
        w for w in paused.stdout.split() if re.fullmatch(re.escape(turn_id) + r"-a\d+", w)
    )
    denied = opscopilot("approvals", "deny", approval_id, "--reason", "no", env=env)
    assert denied.returncode == 0, denied.stderr
    resumed = opscopilot("resume", turn_id, "--json", "--record", env=env)
    assert resumed.returncode == 0, resumed.stderr
    session_id = json.loads(resumed.stdout)["session_id"]
    exported = isolated_home / "export.jsonl"
    export = opscopilot("sessions", "export", session_id, "-o", str(exported), env=env)
    assert export.returncode == 0, export.stderr
    show = opscopilot("sessions", "show", session_id, env=env)
    assert show.returncode == 0, show.stderr

    wire_server.handle(CHAT_PATH, lambda request: answer(prose(), rng))
    prompted = opscopilot("prompt", "look at the logs", env=env)
    prompted_json = opscopilot("prompt", "look at the logs", "--json", env=env)
    assert prompted.returncode == 0 and prompted_json.returncode == 0, prompted.stderr

    database = b"".join(p.read_bytes() for p in isolated_home.glob("opscopilot.db*"))
    sinks = {
        "database": database.decode("utf-8", "replace"),
        "recording": recording.read_text(),
        "export": exported.read_text(),
        "sessions show": show.stdout,
        "run stdout": paused.stdout + paused.stderr,
        "resume stdout": resumed.stdout + resumed.stderr,
        "prompt stdout": prompted.stdout + prompted.stderr,
        "prompt --json": prompted_json.stdout,
    }
    # Something was written everywhere (the labels of the masked values, at least).
    assert "Found slack-bot" in sinks["database"] and "Found slack-bot" in sinks["prompt stdout"]
    assert "Found jwt" in sinks["recording"] and "Found jwt" in sinks["export"]
    assert redact.MASK in sinks["sessions show"]
    leaks = [
        f"{name} in {sink}"
        for name, value in CREDENTIALS.items()
        for piece in secret_parts(value)
        for sink, text in sinks.items()
        if piece in text or piece.replace("\n", "\\n") in text
    ]
    assert not leaks, leaks


def test_a_key_split_across_deltas_stays_masked_on_stdout() -> None:
    stream = redact.StreamRedactor()
    text = "use Authorization: Bearer 8f3c2d9e7b14f6a0c5e1d2b3a4f5e6d7 and ghp_R7kT2mQ9xW4vL8pZ3nB6cJ1dY5sH0aE2fG7u ok"
    for cut in range(1, len(text)):
        stream = redact.StreamRedactor()
        shown = stream.feed(text[:cut]) + stream.feed(text[cut:]) + stream.flush()
        assert shown == redact.redact(text), cut
    assert "8f3c2d9e" not in shown and "ghp_" not in shown


def test_ordinary_ops_text_is_left_alone() -> None:
    for text in (
        "Basic troubleshooting: the token limit is 5, see the password reset docs.",
        "df -h shows /var at 91%; https://status.example.com/api?x=1 is up",
        "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)",
        "commit 3f19129c1b5e7d2a9f0e4b6c8d1a2e3f4b5c6d7e Author: ops <ops@example.com>",
    ):
        assert redact.redact(text) == text
