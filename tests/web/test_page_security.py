"""The page and signed links over real HTTP: login, CSRF, cross-site posts, escaping, links."""

from __future__ import annotations

import re
import time
from contextlib import closing

import httpx

from opscopilot.store import ApprovalRecord, Store
from opscopilot.web import signing
from tests.web.conftest import LiveServer, request_approval

SCRIPT_ARGS = {
    "command": "echo </pre><script>window.__pwned = 1</script><img src=x onerror=alert(1)>"
}


def _status(approval_id: str) -> str:
    with Store.open() as store:
        record = store.get_approval(approval_id)
        assert record is not None
        return record.status


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def log_in(live_server: LiveServer) -> tuple[httpx.Client, str]:
    """A browser-like client signed in through the form; (client, the page's CSRF token)."""
    client = live_server.client(token=None, follow_redirects=False)
    form = client.get("/")
    assert form.status_code == 401 and 'name="token"' in form.text
    signed_in = client.post("/login", data={"token": live_server.token, "csrf": _csrf(form.text)})
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "opscopilot_session=" in cookie
    page = client.get("/")
    assert page.status_code == 200
    return client, _csrf(page.text)


def plant_approval(arguments: dict) -> str:
    """An approval whose arguments a (prompt-injected) model chose, stored as the runtime does."""
    now = time.time()
    with Store.open() as store:
        store.create_session("s-evil", "builtin:ops", "<b>title</b>", now)
        store.create_turn("t-evil", "s-evil", "<i>prompt</i>", "builtin:ops", now)
        store.create_approval(
            ApprovalRecord(
                id="t-evil-a1",
                session_id="s-evil",
                turn_id="t-evil",
                tool_call_id="c1",
                tool="run_command",
                arguments=arguments,
                risk="write",
                reason="<u>reason</u>",
                call_hash="0" * 64,
                requested_at=now,
            )
        )
    return "t-evil-a1"


def test_login_sets_a_strict_http_only_cookie_and_the_page_lists_approvals(
    live_server: LiveServer,
) -> None:
    approval_id, _ = request_approval("restart nginx")
    client, _ = log_in(live_server)
    with closing(client):
        page = client.get("/")
        assert approval_id in page.text and "systemctl restart nginx" in page.text
        headers = page.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "same-origin"
        bad = live_server.client(token=None).post("/login", data={"token": "ocp_wrong"})
        assert bad.status_code in (401, 403)


def test_a_form_post_without_a_valid_csrf_token_or_from_another_site_changes_nothing(
    live_server: LiveServer,
) -> None:
    approval_id, _ = request_approval("restart nginx")
    client, csrf = log_in(live_server)
    with closing(client):
        path = f"/approvals/{approval_id}/approve"
        assert client.post(path, data={}).status_code == 403
        assert client.post(path, data={"csrf": "0" * 64}).status_code == 403
        cross_site = client.post(
            path, data={"csrf": csrf}, headers={"origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403
        fetch_site = client.post(
            path, data={"csrf": csrf}, headers={"sec-fetch-site": "cross-site"}
        )
        assert fetch_site.status_code == 403
        assert _status(approval_id) == "pending"
        done = client.post(path, data={"csrf": csrf})
        assert done.status_code == 303 and done.headers["location"] == f"/?decided={approval_id}"
    assert _status(approval_id) == "approved"


def test_deny_with_a_reason_and_edit_arguments_through_the_page(live_server: LiveServer) -> None:
    first, _ = request_approval("restart nginx")
    second, _ = request_approval("restart nginx")
    client, csrf = log_in(live_server)
    with closing(client):
        denied = client.post(f"/approvals/{first}/deny", data={"csrf": csrf, "reason": "not now"})
        invalid = client.post(
            f"/approvals/{second}/approve", data={"csrf": csrf, "args": '{"command": 7}'}
        )
        assert invalid.status_code == 400 and "args" in invalid.text
        edited = client.post(
            f"/approvals/{second}/approve",
            data={"csrf": csrf, "args": '{"command": "systemctl reload nginx"}'},
        )
    assert denied.status_code == 303 and edited.status_code == 303
    with Store.open() as store:
        one, two = store.get_approval(first), store.get_approval(second)
    assert one.status == "denied" and one.decision_reason == "not now" and one.operator == "alice"
    assert two.status == "approved" and two.edited_arguments == {
        "command": "systemctl reload nginx"
    }


def test_a_session_cookie_dies_with_its_revoked_token(live_server: LiveServer) -> None:
    from opscopilot.web.operators import Operators

    approval_id, _ = request_approval("restart nginx")
    client, csrf = log_in(live_server)
    with closing(client):
        operators = Operators.open()
        operators.revoke("alice")
        operators.close()
        assert client.get("/").status_code == 401
        assert (
            client.post(f"/approvals/{approval_id}/approve", data={"csrf": csrf}).status_code == 401
        )
    assert _status(approval_id) == "pending"


def test_html_in_tool_arguments_and_model_text_is_escaped(live_server: LiveServer) -> None:
    plant_approval(SCRIPT_ARGS)
    client, _ = log_in(live_server)
    with closing(client):
        page = client.get("/").text
        api = live_server.client().get("/api/approvals")
    assert "<script>window" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert "<b>title</b>" not in page and "&lt;b&gt;title&lt;/b&gt;" in page
    assert "<u>reason</u>" not in page and "<i>prompt</i>" not in page
    assert api.headers["content-type"] == "application/json"


def _link(approval_id: str, expires_at: float) -> str:
    return signing.sign_link(signing.load_secret(), approval_id, expires_at).path()


def test_a_signed_link_opens_its_one_approval_and_dies_when_used(live_server: LiveServer) -> None:
    approval_id, _ = request_approval("restart nginx")
    other, _ = request_approval("restart nginx")
    link = _link(approval_id, time.time() + 600)
    with live_server.client(token=None) as anonymous:
        opened = anonymous.get(link)
        assert opened.status_code == 200 and approval_id in opened.text and other not in opened.text
        hidden = dict(re.findall(r'name="(e|s|csrf)" value="([^"]+)"', opened.text))
        used = anonymous.post(f"/link/{approval_id}/deny", data={**hidden, "reason": "phone"})
        assert used.status_code == 200 and "denied" in used.text
        assert anonymous.get(link).status_code == 410
        reused = anonymous.post(f"/link/{approval_id}/approve", data=hidden)
        assert reused.status_code == 410
        # the link opens nothing else: not the list, not another approval
        assert anonymous.get("/").status_code == 401
        assert anonymous.post(f"/link/{other}/approve", data=hidden).status_code == 403
    with Store.open() as store:
        record = store.get_approval(approval_id)
    assert record.status == "denied" and record.operator == "signed-link"
    assert record.decision_reason == "phone" and _status(other) == "pending"


def test_forged_expired_and_decided_elsewhere_links_open_nothing(live_server: LiveServer) -> None:
    approval_id, _ = request_approval("restart nginx")
    good = _link(approval_id, time.time() + 600)
    forged = re.sub(r"s=[0-9a-f]{8}", "s=00000000", good)
    longer = good.replace("e=", "e=9")  # a later deadline under the old signature
    expired = _link(approval_id, time.time() - 1)
    with live_server.client(token=None) as anonymous:
        assert anonymous.get(forged).status_code == 403
        assert anonymous.get(longer).status_code == 403
        assert anonymous.get(expired).status_code == 410
        expires, signature = expired.split("e=")[1].split("&s=")
        posted = anonymous.post(f"/link/{approval_id}/approve", data={"e": expires, "s": signature})
        assert posted.status_code == 410
        assert _status(approval_id) == "pending"
        with live_server.client() as operator:
            assert operator.post(f"/api/approvals/{approval_id}/approve").status_code == 200
        assert anonymous.get(good).status_code == 410
