"""The JSON API and the token commands over real HTTP (uvicorn on loopback, a real store)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from opscopilot.store import Store
from tests.web.conftest import LiveServer, add_token, opscopilot, request_approval


def _status(approval_id: str) -> str:
    with Store.open() as store:
        record = store.get_approval(approval_id)
        assert record is not None
        return record.status


def test_token_add_prints_the_token_alone_on_its_last_line_and_keeps_only_its_hash(
    isolated_home: Path,
) -> None:
    from click.testing import CliRunner

    from opscopilot.cli.serve import serve

    added = opscopilot("serve", "token", "add", "bob")
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("ocp_") and len(token) > 40 and " " not in token
    database = (isolated_home / "opscopilot.db").read_bytes()
    assert token.encode() not in database
    assert hashlib.sha256(token.encode()).hexdigest().encode() in database
    cli = CliRunner()
    listed = cli.invoke(serve, ["token", "list"]).output
    assert "bob" in listed and "active" in listed and token not in listed
    again = cli.invoke(serve, ["token", "add", "bob"])
    assert again.exit_code == 2 and "already has a token" in again.output
    assert cli.invoke(serve, ["token", "revoke", "bob"]).exit_code == 0
    assert "revoked" in cli.invoke(serve, ["token", "list"]).output
    missing = cli.invoke(serve, ["token", "revoke", "nobody"])
    assert missing.exit_code == 1 and "no operator nobody" in missing.output
    assert cli.invoke(serve, ["token", "add", "bad name!"]).exit_code == 2


def test_the_api_lists_pending_approvals_with_their_context(live_server: LiveServer) -> None:
    approval_id, turn_id = request_approval("restart nginx")
    with live_server.client() as client:
        listed = client.get("/api/approvals")
        shown = client.get(f"/api/approvals/{approval_id}")
    assert listed.status_code == 200
    (item,) = listed.json()
    assert item["id"] == approval_id and item["turn_id"] == turn_id
    assert item["tool"] == "run_command" and item["status"] == "pending"
    assert item["arguments"] == {"command": "systemctl restart nginx"}
    assert {"session_id", "risk", "requested_at", "reason", "age_s"} <= set(item)
    assert item["prompt"] == "restart nginx" and "nginx" in item["last_words"]
    assert shown.status_code == 200 and shown.json()["id"] == approval_id


def test_approve_and_deny_answer_200_then_409_and_404_for_an_unknown_id(
    live_server: LiveServer,
) -> None:
    first, _ = request_approval("restart nginx")
    second, _ = request_approval("restart nginx")
    with live_server.client() as client:
        approved = client.post(f"/api/approvals/{first}/approve")
        again = client.post(f"/api/approvals/{first}/deny", json={"reason": "late"})
        denied = client.post(f"/api/approvals/{second}/deny", json={"reason": "not now"})
        unknown = client.post("/api/approvals/t-nope-a1/approve")
        shown = client.get(f"/api/approvals/{second}")
        remaining = client.get("/api/approvals").json()
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert approved.json()["operator"] == "alice" and approved.json()["host"] == "127.0.0.1"
    assert again.status_code == 409 and "already approved" in again.json()["error"]["message"]
    assert denied.status_code == 200 and denied.json()["decision_reason"] == "not now"
    assert unknown.status_code == 404
    assert shown.json()["status"] == "denied" and shown.json()["operator"] == "alice"
    assert remaining == []


def test_edited_arguments_are_checked_against_the_tool_schema(live_server: LiveServer) -> None:
    approval_id, _ = request_approval("restart nginx")
    with live_server.client() as client:
        wrong_type = client.post(
            f"/api/approvals/{approval_id}/approve", json={"args": {"command": 42}}
        )
        not_object = client.post(f"/api/approvals/{approval_id}/approve", json={"args": "ls"})
        not_json = client.post(f"/api/approvals/{approval_id}/approve", content=b"{nope")
        assert _status(approval_id) == "pending"
        edited = client.post(
            f"/api/approvals/{approval_id}/approve",
            json={"args": {"command": "systemctl reload nginx"}},
        )
    assert wrong_type.status_code == 400 and "args" in wrong_type.json()["error"]["message"]
    assert not_object.status_code == 400 and not_json.status_code == 400
    assert edited.status_code == 200
    assert edited.json()["edited_arguments"] == {"command": "systemctl reload nginx"}
    assert edited.json()["call_hash"] != edited.json()["original_call_hash"]


def test_without_a_valid_token_every_route_answers_401_and_nothing_changes(
    live_server: LiveServer,
) -> None:
    approval_id, _ = request_approval("restart nginx")
    routes = [
        ("GET", "/api/approvals"),
        ("GET", f"/api/approvals/{approval_id}"),
        ("POST", f"/api/approvals/{approval_id}/approve"),
        ("POST", f"/api/approvals/{approval_id}/deny"),
        ("GET", "/"),
        ("GET", "/fragment"),
        ("GET", "/events"),
        ("POST", f"/approvals/{approval_id}/approve"),
        ("POST", f"/approvals/{approval_id}/deny"),
    ]
    for token in (None, "ocp_not-a-real-token", "garbage", live_server.token + "x"):
        with live_server.client(token) as client:
            for method, path in routes:
                answer = client.request(method, path)
                assert answer.status_code == 401, (token, method, path, answer.status_code)
    assert _status(approval_id) == "pending"


def test_a_revoked_token_stops_working_at_once_on_the_running_server(
    live_server: LiveServer,
) -> None:
    approval_id, _ = request_approval("restart nginx")
    bob = add_token("bob")
    with live_server.client(bob) as client:
        assert client.get("/api/approvals").status_code == 200
        opscopilot("serve", "token", "revoke", "bob")  # another process, as an operator would
        assert client.get("/api/approvals").status_code == 401
        assert client.post(f"/api/approvals/{approval_id}/approve").status_code == 401
    assert _status(approval_id) == "pending"
    with live_server.client() as client:  # alice's token is untouched
        assert client.get("/api/approvals").status_code == 200


def test_serve_without_the_extra_says_how_to_install_it(isolated_home: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['starlette'] = None\n"
        "from opscopilot.cli.main import main\n"
        "sys.argv = ['opscopilot', 'serve']\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: opscopilot serve needs the serve extra: pip install 'opscopilot[serve]'"
    )


def test_an_operator_token_pasted_anywhere_never_lands_in_the_store_or_an_error_line(
    live_server: LiveServer, isolated_home: Path
) -> None:
    token = live_server.token
    by_web, _ = request_approval("restart nginx")
    by_cli, _ = request_approval("restart nginx")
    with live_server.client() as client:
        denied = client.post(
            f"/api/approvals/{by_web}/deny", json={"reason": f"pasted {token} by mistake"}
        )
    assert denied.status_code == 200, denied.text
    assert token not in denied.text
    assert denied.json()["decision_reason"] == "pasted [REDACTED] by mistake"
    cli_denied = opscopilot("approvals", "deny", by_cli, "--reason", f"token={token}")
    assert token not in cli_denied.stdout + cli_denied.stderr
    shown = opscopilot("approvals", "show", by_cli, "--json")
    assert token not in shown.stdout and "[REDACTED]" in shown.stdout
    errored = opscopilot("approvals", "show", token, check=False)  # a token typed as an id
    assert errored.returncode == 1 and token not in errored.stderr
    assert "no approval [REDACTED]" in errored.stderr
    for path in isolated_home.rglob("*"):  # the database, its WAL, recordings, logs
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
