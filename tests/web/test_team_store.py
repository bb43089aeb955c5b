"""`opscopilot serve` on a team store: the page's server and the terminals share PostgreSQL."""

from __future__ import annotations

import pytest

from opscopilot.store import Store
from tests.web.conftest import LiveServer, request_approval


@pytest.fixture
def team_store(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPSCOPILOT_STORE", postgres_url)
    return postgres_url


def test_the_api_lists_and_decides_an_approval_kept_on_postgresql(
    team_store: str, live_server: LiveServer
) -> None:
    approval_id, turn_id = request_approval()
    with live_server.client() as client:
        listed = client.get("/api/approvals")
        assert listed.status_code == 200
        assert [a["id"] for a in listed.json()] == [approval_id]
        decided = client.post(f"/api/approvals/{approval_id}/deny", json={"reason": "no"})
        assert decided.status_code == 200, decided.text
    with Store.open(team_store) as store:
        record = store.get_approval(approval_id)
        assert (record.status, record.operator, record.turn_id) == ("denied", "alice", turn_id)
