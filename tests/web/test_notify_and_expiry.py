"""Notifiers (a real command, a real webhook receiver on loopback) and expiry (deny and keep)."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from opscopilot.store import Store
from tests.web.conftest import (
    LiveServer,
    owner_outcome,
    request_approval,
    start_owner,
    write_config,
)


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    answer = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(
            {"path": self.path, "type": self.headers["content-type"], "json": json.loads(body)}
        )
        self.send_response(type(self).answer)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _webhook_receiver(answer: int = 204) -> tuple[ThreadingHTTPServer, type[_Receiver]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "answer": answer})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


def _notices(turn_id: str) -> list[str]:
    with Store.open() as store:
        return [e.message for _, e in store.events(turn_id=turn_id) if e.type == "notice"]


def test_a_requested_approval_runs_the_command_and_posts_the_webhook_with_a_working_link(
    live_server: LiveServer, isolated_home: Path, tmp_path: Path
) -> None:
    script = tmp_path / "notifier.py"
    out = tmp_path / "notified.json"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            payload = json.load(sys.stdin)
            open({str(out)!r}, "w").write(json.dumps({{"argv": sys.argv[1:], "stdin": payload}}))
            """
        )
    )
    receiver, handler = _webhook_receiver()
    try:
        write_config(
            isolated_home,
            f"""
            [notify]
            command = [{json.dumps(sys.executable)}, {json.dumps(str(script))}, "--", "{{summary}}", "{{link}}"]
            webhook = "http://127.0.0.1:{receiver.server_address[1]}/hook/SECRET"
            [serve]
            public_url = "{live_server.url}"
            """.replace("\n            ", "\n"),
        )
        approval_id, turn_id = request_approval("restart nginx")
    finally:
        receiver.shutdown()
    notified = json.loads(out.read_text())
    summary, link = notified["argv"][1], notified["argv"][2]
    assert notified["argv"][0] == "--"
    assert summary.startswith("opscopilot: run_command (write) waits for approval")
    assert "systemctl restart nginx" in summary
    assert link.startswith(f"{live_server.url}/link/{approval_id}?e=")
    assert notified["stdin"]["approval_id"] == approval_id and notified["stdin"]["link"] == link
    (posted,) = handler.received
    assert posted["path"] == "/hook/SECRET" and posted["type"] == "application/json"
    assert posted["json"]["link"] == link and posted["json"]["tool"] == "run_command"
    assert _notices(turn_id) == []
    with live_server.client(token=None) as phone:
        opened = phone.get(link.removeprefix(live_server.url))
    assert opened.status_code == 200 and approval_id in opened.text


def test_a_failing_notifier_is_one_line_in_the_event_log_and_the_turn_still_pauses(
    isolated_home: Path,
) -> None:
    receiver, _ = _webhook_receiver(answer=500)
    port = receiver.server_address[1]
    try:
        write_config(
            isolated_home,
            f"""
[notify]
command = ["/nonexistent/notifier", "{{summary}}"]
webhook = "http://127.0.0.1:{port}/hook/SECRET?key=abc"
""",
        )
        approval_id, turn_id = request_approval("restart nginx")
    finally:
        receiver.shutdown()
    notices = _notices(turn_id)
    assert len(notices) == 2, notices
    assert any("command /nonexistent/notifier could not start" in n for n in notices)
    assert f"notify: webhook http://127.0.0.1:{port} answered 500" in notices
    assert not any("SECRET" in n or "key=abc" in n for n in notices)
    with Store.open() as store:
        assert store.get_approval(approval_id).status == "pending"


def test_a_slow_notifier_is_killed_at_its_timeout(isolated_home: Path) -> None:
    write_config(
        isolated_home,
        f"""
[notify]
command = [{json.dumps(sys.executable)}, "-c", "import time; time.sleep(60)"]
timeout_s = 0.5
""",
    )
    _, turn_id = request_approval("restart nginx")
    assert _notices(turn_id) == [f"notify: command {sys.executable} took over 0.5 s; killed"]


def test_with_on_expiry_deny_serve_records_a_lapsed_approval_nobody_reads(
    live_server: LiveServer, isolated_home: Path
) -> None:
    write_config(isolated_home, '[approvals]\nexpire_after_s = 1\non_expiry = "deny"\n')
    approval_id, _ = request_approval("restart nginx")
    deadline = time.monotonic() + 30
    while True:  # read the row as stored (not as_of now): only the sweeper can make it expired
        with Store.open() as store:
            record = store.get_approval(approval_id)
        if record.status != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert record.status == "expired" and record.operator == "opscopilot"
    assert record.decided_at >= record.expires_at
    assert "expired at" in record.decision_reason
    with live_server.client() as client:
        late = client.post(f"/api/approvals/{approval_id}/approve")
    assert late.status_code == 409


def test_an_owner_continues_its_turn_with_the_expiry_as_a_denial(isolated_home: Path) -> None:
    write_config(isolated_home, '[approvals]\nexpire_after_s = 1\non_expiry = "deny"\n')
    outcome = owner_outcome(start_owner("restart nginx"))
    assert outcome["status"] == "completed" and outcome["pending_approvals"] == []
    (call,) = outcome["tool_calls"]
    assert call["status"] == "denied"
    with Store.open() as store:
        (record,) = store.list_approvals(status=None, turn_id=outcome["turn_id"])
        decided = [
            e for _, e in store.events(turn_id=outcome["turn_id"]) if e.type == "approval.decided"
        ]
    assert record.status == "expired"
    assert [e.decision for e in decided] == ["expired"]


def test_on_expiry_takes_deny_or_keep_and_nothing_else(isolated_home: Path) -> None:
    import pytest

    from opscopilot.config import ConfigError
    from opscopilot.store.expiry import on_expiry

    assert on_expiry() == "deny"
    write_config(isolated_home, '[approvals]\non_expiry = "keep"\n')
    assert on_expiry() == "keep"
    write_config(isolated_home, '[approvals]\non_expiry = "approve"\n')
    with pytest.raises(ConfigError, match='on_expiry must be "deny" or "keep"'):
        on_expiry()


def _stored(approval_id: str):
    """The approval's row as stored (not as of now)."""
    with Store.open() as store:
        return store.get_approval(approval_id)


def _first_approval(owner) -> str:
    """The id of the approval the owner's turn asked for, once it is stored."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and owner.poll() is None:
        with Store.open() as store:
            listed = store.list_approvals(status=None)
        if listed:
            return listed[0].id
        time.sleep(0.05)  # polling the store's progress, not timing the owner
    raise AssertionError(f"no approval was requested: {owner.communicate()[1][-2000:]}")


def test_with_on_expiry_keep_a_lapsed_approval_stays_pending_until_a_person_decides_it(
    live_server: LiveServer, isolated_home: Path
) -> None:
    import subprocess

    write_config(isolated_home, '[approvals]\nexpire_after_s = 1\non_expiry = "keep"\n')
    owner = start_owner("restart nginx")
    try:
        approval_id = _first_approval(owner)
        turn_id = _stored(approval_id).turn_id
        # The owner wakes at the deadline and says, once, that the approval lapsed and waits.
        deadline = time.monotonic() + 60
        while not (said := [m for m in _notices(turn_id) if approval_id in m]):
            assert time.monotonic() < deadline and owner.poll() is None, "the owner said nothing"
            time.sleep(0.05)
        (notice,) = said
        assert 'on_expiry = "keep": the turn stays paused until someone decides it' in notice
        # Nothing acted on the deadline: neither the owner nor serve's sweeper.
        record = _stored(approval_id)
        assert record.status == "pending" and time.time() > record.expires_at
        assert owner.poll() is None, "the owner must keep waiting"
        with Store.open() as store:
            assert store.get_turn(turn_id).status == "awaiting_approval"
        with live_server.client() as client:
            listed = client.get("/api/approvals").json()
            shown = client.get(f"/api/approvals/{approval_id}").json()
        assert approval_id not in [a["id"] for a in listed]  # the pending list leaves it out
        assert shown["status"] == "expired"  # it reads expired, as of now
        # A late decision records the expiry (not an approval); the owner goes on without it.
        late = subprocess.run(
            [sys.executable, "-m", "opscopilot", "approvals", "approve", approval_id],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert late.returncode != 0
        assert "recorded as expired, not approved" in late.stderr
        outcome = owner_outcome(owner)
    finally:
        owner.kill()
        owner.wait()
    assert outcome["status"] == "completed" and outcome["pending_approvals"] == []
    (call,) = outcome["tool_calls"]
    assert call["status"] == "denied"
    record = _stored(approval_id)
    assert record.status == "expired" and "came too late" in record.decision_reason
    with Store.open() as store:
        decided = [e for _, e in store.events(turn_id=turn_id) if e.type == "approval.decided"]
    assert [e.decision for e in decided] == ["expired"]
    assert len([m for m in _notices(turn_id) if approval_id in m]) == 1
