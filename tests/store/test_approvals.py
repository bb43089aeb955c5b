from __future__ import annotations

import threading
from pathlib import Path

import pytest

from opscopilot.store import ApprovalRecord, Store, StoreError
from opscopilot.store.approvals import call_hash


def pending(
    approval_id: str = "a1",
    *,
    turn_id: str = "t1",
    requested_at: float = 100.0,
    expires_at: float | None = None,
    command: str = "systemctl restart nginx",
) -> ApprovalRecord:
    arguments = {"command": command}
    return ApprovalRecord(
        id=approval_id,
        session_id="s1",
        turn_id=turn_id,
        tool_call_id=f"call-{approval_id}",
        tool="run_command",
        arguments=arguments,
        risk="write",
        reason="restarts a service",
        call_hash=call_hash("run_command", arguments),
        requested_at=requested_at,
        expires_at=expires_at,
    )


def test_create_get_and_list_pending(store: Store) -> None:
    store.create_approval(pending("a1"))
    store.create_approval(pending("a2", turn_id="t2", requested_at=101.0))
    got = store.get_approval("a1")
    assert got.status == "pending" and got.arguments == {"command": "systemctl restart nginx"}
    assert got.original_call_hash == got.call_hash
    assert [a.id for a in store.list_approvals()] == ["a1", "a2"]
    assert [a.id for a in store.list_approvals(turn_id="t2")] == ["a2"]
    assert store.list_approvals(session_id="other") == []
    assert store.get_approval("missing") is None
    with pytest.raises(StoreError) as duplicate:
        store.create_approval(pending("a1"))
    assert duplicate.value.kind == "conflict"


def test_decide_is_atomic_and_a_second_decision_conflicts(store: Store) -> None:
    store.create_approval(pending("a1"))
    decided = store.decide_approval(
        "a1",
        decision="denied",
        operator="ann",
        host="box1",
        reason="not during business hours",
        decided_at=150.0,
    )
    assert (decided.status, decided.operator, decided.host, decided.decided_at) == (
        "denied",
        "ann",
        "box1",
        150.0,
    )
    assert store.get_approval("a1") == decided
    with pytest.raises(StoreError) as second:
        store.decide_approval(
            "a1", decision="approved", operator="bob", host="box2", decided_at=151.0
        )
    assert second.value.kind == "conflict"
    assert "already denied" in str(second.value)
    assert store.get_approval("a1").operator == "ann"
    with pytest.raises(StoreError) as unknown:
        store.decide_approval("zz", decision="approved", operator="x", host="y", decided_at=1.0)
    assert unknown.value.kind == "not_found"
    assert store.list_approvals() == []
    assert [a.id for a in store.list_approvals(status="denied")] == ["a1"]
    assert [a.id for a in store.list_approvals(status=None)] == ["a1"]


def test_deciding_writes_no_event_of_its_own(store: Store) -> None:
    # The runtime's core emits `approval.decided` when it picks the decision up; a second
    # copy from the store would show every decision twice in a replay.
    store.create_approval(pending("a1"))
    store.decide_approval("a1", decision="approved", operator="ann", host="box1", decided_at=150.0)
    assert store.events() == []


def test_approving_edited_arguments_binds_a_new_call_hash(store: Store) -> None:
    original = store.create_approval(pending("a1"))
    edited = {"command": "systemctl reload nginx"}
    decided = store.decide_approval(
        "a1", decision="approved", operator="ann", host="h", arguments=edited, decided_at=120.0
    )
    assert decided.edited_arguments == edited
    assert decided.arguments == original.arguments  # the model's proposal is kept for the audit
    assert decided.effective_arguments == edited
    assert decided.call_hash == call_hash("run_command", edited) != original.call_hash
    assert decided.original_call_hash == original.call_hash
    assert store.get_approval("a1") == decided


def test_a_lapsed_request_lists_as_expired_and_deciding_it_records_the_expiry(
    store: Store,
) -> None:
    store.create_approval(pending("a1", expires_at=200.0))
    assert [a.id for a in store.list_approvals(now=199.0)] == ["a1"]
    assert store.list_approvals(now=201.0) == []
    lapsed = store.list_approvals(status="expired", now=201.0)
    assert [(a.id, a.status) for a in lapsed] == [("a1", "expired")]
    decided = store.decide_approval(
        "a1",
        decision="approved",
        operator="ann",
        host="h",
        arguments={"command": "true"},
        decided_at=250.0,
    )
    assert decided.status == "expired"
    assert decided.edited_arguments is None
    assert "expired at" in decided.decision_reason and "approved by ann came too late" in (
        decided.decision_reason
    )


def test_expiry_defaults_from_config(isolated_home: Path, store_url: str) -> None:
    (isolated_home / "config.toml").write_text("[approvals]\nexpire_after_s = 60\n")
    with Store.open(store_url) as store:
        created = store.create_approval(pending("a1", requested_at=1000.0))
        assert created.expires_at == 1060.0
        assert store.get_approval("a1").expires_at == 1060.0


def test_racing_threads_decide_exactly_once(store: Store) -> None:
    store.create_approval(pending("a1"))
    outcomes: list[str] = []

    def decide(operator: str) -> None:
        try:
            store.decide_approval(
                "a1", decision="approved", operator=operator, host="h", decided_at=150.0
            )
            outcomes.append("won")
        except StoreError as exc:
            outcomes.append(exc.kind)

    threads = [threading.Thread(target=decide, args=(f"op{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
