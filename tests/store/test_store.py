from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from opscopilot import events as ev
from opscopilot.events import parse_event
from opscopilot.llm.types import ErrorInfo, Message, ThinkingPart, ToolCallPart, Usage
from opscopilot.store import Store, StoreError
from opscopilot.store.schema import CORE_STEPS, TRACK
from tests.store.raw import raw_rows


def test_open_migrates_an_empty_file_and_reopening_keeps_data(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.create_session("s1", "builtin:ops", "disk", 10.0)
    conn = sqlite3.connect(db_path)
    version = conn.execute(
        "SELECT version FROM schema_versions WHERE track = ?", [TRACK]
    ).fetchone()
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert version == (len(CORE_STEPS),)
    assert {
        "sessions",
        "turns",
        "messages",
        "events",
        "journal",
        "snapshots",
        "approvals",
        "allow_rules",
    } <= tables
    with Store.open(db_path) as store:
        assert store.get_session("s1").title == "disk"


def test_default_path_is_under_opscopilot_home(isolated_home: Path) -> None:
    with Store.open() as store:
        assert store.path == isolated_home / "opscopilot.db"
    assert (isolated_home / "opscopilot.db").is_file()


def test_a_database_from_a_newer_opscopilot_is_refused(db_path: Path) -> None:
    Store.open(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE schema_versions SET version = 99 WHERE track = ?", [TRACK])
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as caught:
        Store.open(db_path)
    assert caught.value.kind == "version"
    assert "newer than this opscopilot" in str(caught.value)


def test_sessions_and_turns_record_status_usage_cost_and_errors(store: Store) -> None:
    store.create_session("s1", "builtin:ops", "first", 1.0)
    store.create_session("s2", "openai:gpt-4o-mini", "second", 2.0)
    store.create_turn("t1", "s1", "why is disk full?", "builtin:ops", 3.0)
    store.create_turn("t2", "s1", "restart nginx", "builtin:ops", 4.0)
    store.update_turn(
        "t1",
        status="completed",
        updated_at=5.0,
        text="/var is 98% full",
        usage=Usage(input_tokens=10, output_tokens=5),
        cost_usd=0.25,
    )
    error = ErrorInfo(kind="server", message="boom", retryable=True)
    store.update_turn("t2", status="awaiting_approval", updated_at=6.0, error=error)

    turn = store.get_turn("t1")
    assert (turn.status, turn.text, turn.usage.output_tokens, turn.cost_usd) == (
        "completed",
        "/var is 98% full",
        5,
        0.25,
    )
    assert turn.finished
    assert store.get_turn("t2").error == error.model_dump()
    assert [t.id for t in store.list_turns("s1")] == ["t1", "t2"]
    assert [t.id for t in store.list_unfinished_turns()] == ["t2"]
    sessions = store.list_sessions()
    assert [s.id for s in sessions] == ["s1", "s2"]  # s1 was active last (t=6)
    assert (sessions[0].turn_count, sessions[0].cost_usd, sessions[0].updated_at) == (2, 0.25, 6.0)
    assert store.list_sessions(limit=1)[0].id == "s1"
    assert store.get_session("nope") is None and store.get_turn("nope") is None


def test_turn_writes_name_the_missing_or_duplicate_record(store: Store) -> None:
    with pytest.raises(StoreError) as missing_session:
        store.create_turn("t1", "ghost", "p", "builtin:ops", 1.0)
    assert missing_session.value.kind == "not_found"
    store.create_session("s1", "builtin:ops", "", 1.0)
    with pytest.raises(StoreError) as duplicate:
        store.create_session("s1", "builtin:ops", "", 1.0)
    assert duplicate.value.kind == "conflict"
    with pytest.raises(StoreError) as missing_turn:
        store.update_turn("ghost", status="failed", updated_at=2.0)
    assert missing_turn.value.kind == "not_found"


def test_messages_round_trip_in_order_with_secrets_masked(store: Store) -> None:
    store.create_session("s1", "builtin:ops", "", 1.0)
    key = "sk-proj-" + "A" * 30
    conversation = [
        Message.user(f"my key is {key}, check the gateway"),
        Message(
            role="assistant",
            parts=[
                ThinkingPart(text="look at logs", signature="sig"),
                ToolCallPart(id="c1", name="tail_log", arguments={"unit": "nginx", "lines": 50}),
            ],
        ),
        Message.tool_result("c1", "upstream timed out", is_error=False),
        Message.assistant("The upstream is slow."),
    ]
    for index, message in enumerate(conversation):
        store.append_message("s1", "t1", message, float(index))
    stored = store.messages("s1")
    assert stored[1:] == conversation[1:]
    assert key not in stored[0].text and "[REDACTED]" in stored[0].text
    assert len(store.messages("s1", turn_id="t1")) == 4
    raw = raw_rows(store, "SELECT message FROM messages")
    assert raw and all(key not in row[0] for row in raw)


def test_the_history_before_a_turn_is_its_earlier_turns_in_turn_order(store: Store) -> None:
    store.create_session("s1", "builtin:ops", "", 1.0)
    store.create_session("s2", "builtin:ops", "", 1.0)
    for turn_id, at in (("t1", 1.0), ("t2", 2.0), ("t3", 3.0)):
        store.create_turn(turn_id, "s1", "p", "builtin:ops", at)
    store.create_turn("u1", "s2", "p", "builtin:ops", 1.0)
    store.append_message("s1", "t1", Message.user("one"), 1.0)
    store.append_message("s1", "t2", Message.user("two"), 2.0)
    # t1 resumed after t2 began: its reply is stored later, and still comes before t2's.
    store.append_message("s1", "t1", Message.assistant("one, answered"), 3.0)
    store.append_message("s1", "t3", Message.user("three"), 4.0)
    store.append_message("s2", "u1", Message.user("elsewhere"), 4.0)

    def texts(turn_id: str) -> list[str]:
        return [m.text for m in store.messages_before("s1", turn_id).values()]

    assert texts("t1") == []
    assert texts("t2") == ["one", "one, answered"]
    assert texts("t3") == ["one", "one, answered", "two"]
    assert texts("not-stored-yet") == ["one", "one, answered", "two", "three"]
    assert store.count_messages("s1", "t1") == 2 and store.count_messages("s1", "t9") == 0

    known = store.messages_before("s1", "t3")
    again = store.messages_before("s1", "not-stored-yet", known)
    assert all(again[seq] is message for seq, message in known.items())  # not decoded twice


def every_kind_of_event() -> list[ev.Event]:
    usage = Usage(input_tokens=3, output_tokens=2)
    common = {"ts": 100.5, "session_id": "s1", "turn_id": "t1"}
    return [
        ev.SessionStarted(**common, model="builtin:ops", title="x"),
        ev.TurnStarted(**common, prompt="p", model="builtin:ops"),
        ev.TurnStateChanged(**common, previous="ready", state="calling_model"),
        ev.ModelCallStarted(**common, call_id="c", provider="builtin", model="ops"),
        ev.ModelText(**common, call_id="c", text="héllo ✓"),
        ev.ModelThinking(**common, call_id="c", text="hmm"),
        ev.ModelToolCall(
            **common,
            call_id="c",
            tool_call_id="k",
            name="read_file",
            arguments={"path": "/etc/hosts"},
        ),
        ev.ModelUsage(**common, call_id="c", usage=usage, cost_usd=0.01, estimated=True),
        ev.ModelRetry(**common, call_id="c", attempt=2, delay_s=0.5, reason="overloaded"),
        ev.ModelFinished(
            **common,
            call_id="c",
            provider="builtin",
            model="ops",
            finish_reason="tool_calls",
            usage=usage,
        ),
        ev.ToolProposed(**common, tool_call_id="k", name="read_file", arguments={}, risk="read"),
        ev.ApprovalRequested(
            **common,
            approval_id="a",
            tool_call_id="k",
            name="run_command",
            arguments={"command": "systemctl restart nginx"},
            risk="write",
        ),
        ev.ApprovalDecided(**common, approval_id="a", decision="approved", operator="ann"),
        ev.ToolStarted(**common, tool_call_id="k", name="read_file"),
        ev.ToolOutput(**common, tool_call_id="k", stream="stderr", text="line\n"),
        ev.ToolFinished(**common, tool_call_id="k", name="read_file", status="ok", content="x"),
        ev.BudgetWarning(**common, scope="turn", spent_usd=0.8, cap_usd=1.0),
        ev.BudgetCutoff(**common, scope="call", spent_usd=1.0, cap_usd=1.0, call_id="c"),
        ev.SchedulerMetrics(ts=1.0, in_flight=1, queued=0, capacity=4, spend={"day": (0.5, None)}),
        ev.TurnFinished(**common, status="completed", text="done", usage=usage, cost_usd=0.02),
        ev.Notice(ts=2.0, level="warning", message="hi"),
    ]


def test_every_event_kind_round_trips_through_parse_event(store: Store) -> None:
    originals = every_kind_of_event()
    for event in originals:
        store.append_event(event)
    stored = store.events()
    assert [event for _, event in stored] == originals
    seqs = [seq for seq, _ in stored]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    raw = raw_rows(store, "SELECT data FROM events ORDER BY seq")
    assert [parse_event(row[0]) for row in raw] == originals


def test_events_filter_by_session_turn_and_sequence(store: Store) -> None:
    for turn in ("t1", "t2"):
        for index in range(5):
            store.append_event(
                ev.ModelText(
                    ts=float(index),
                    session_id="s1",
                    turn_id=turn,
                    call_id="c",
                    text=f"{turn}-{index}",
                )
            )
    store.append_event(ev.Notice(ts=9.0, message="global"))
    assert len(store.events()) == 11
    assert len(store.events(session_id="s1")) == 10
    second_turn = store.events(turn_id="t2")
    assert [e.text for _, e in second_turn] == [f"t2-{i}" for i in range(5)]
    after = store.events(turn_id="t2", after_seq=second_turn[1][0], limit=2)
    assert [e.text for _, e in after] == ["t2-2", "t2-3"]
    assert store.last_event_seq() == store.events()[-1][0]


def test_batched_writer_takes_10k_events_without_blocking_and_flushes_fast(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    count = 10_000
    events = [
        ev.ModelText(ts=float(i), session_id="s", turn_id="t", call_id="c", text=f"tok{i} ")
        for i in range(count)
    ]
    started = time.perf_counter()
    for event in events:
        store.append_event(event)
    appended = time.perf_counter() - started
    store.flush()
    flushed = time.perf_counter() - started
    stored = store.events(turn_id="t")
    assert [e.text for _, e in stored] == [e.text for e in events]
    with capsys.disabled():
        print(
            f"\n[store] 10k events: append {appended * 1000:.0f} ms, "
            f"append+flush {flushed * 1000:.0f} ms ({count / flushed:,.0f} events/s)"
        )
    assert flushed < 5.0  # generous on 2 shared cores; typically well under 0.5 s


def test_flush_from_another_thread_while_appending(store: Store) -> None:
    import threading

    errors: list[BaseException] = []

    def flusher() -> None:
        try:
            for _ in range(20):
                store.flush()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=flusher)
    thread.start()
    for i in range(2000):
        store.append_event(ev.Notice(ts=float(i), message=str(i)))
    thread.join()
    assert not errors
    assert len(store.events()) == 2000


def test_close_commits_what_was_queued(store_url: str) -> None:
    store = Store.open(store_url)
    for i in range(500):
        store.append_event(ev.Notice(ts=float(i), message=str(i)))
    store.close()
    store.close()  # a second close does nothing
    with pytest.raises(StoreError):
        store.append_event(ev.Notice(ts=0.0, message="late"))
    with Store.open(store_url) as reopened:
        assert len(reopened.events()) == 500


def test_journal_intent_is_idempotent_and_its_result_is_final(store: Store) -> None:
    assert store.journal_intent("t1", "e1", "tool", {"name": "read_file"}, 1.0) is True
    assert store.journal_intent("t1", "e1", "tool", {"name": "other"}, 2.0) is False
    entry = store.journal_entry("e1")
    assert (entry.status, entry.payload, entry.finished) == ("intent", {"name": "read_file"}, False)
    store.journal_result("e1", status="ok", result={"content": "x"}, finished_at=3.0)
    entry = store.journal_entry("e1")
    assert (entry.status, entry.result, entry.finished_at, entry.finished) == (
        "ok",
        {"content": "x"},
        3.0,
        True,
    )
    with pytest.raises(StoreError) as again:
        store.journal_result("e1", status="error", result={}, finished_at=4.0)
    assert again.value.kind == "conflict"
    with pytest.raises(StoreError) as unknown:
        store.journal_result("e9", status="ok", result={}, finished_at=4.0)
    assert unknown.value.kind == "not_found"
    store.journal_intent("t1", "e2", "model", {}, 5.0)
    store.journal_intent("t2", "e3", "model", {}, 0.5)
    assert [e.effect_id for e in store.journal("t1")] == ["e1", "e2"]
    assert store.journal_entry("nope") is None


def test_journal_intent_commits_the_events_queued_before_it(store: Store) -> None:
    for i in range(300):
        store.append_event(ev.Notice(ts=float(i), message=str(i)))
    store.journal_intent("t1", "e1", "tool", {}, 1.0)
    # A separate connection (another process's view) sees every event already.
    assert raw_rows(store, "SELECT COUNT(*) FROM events")[0][0] == 300
    assert raw_rows(store, "SELECT COUNT(*) FROM journal")[0][0] == 1


def test_snapshots_latest_wins_and_survive_reopen(store_url: str) -> None:
    with Store.open(store_url) as store:
        assert store.load_snapshot("t1") is None
        store.save_snapshot("t1", {"state": "calling_model", "n": 1}, 1.0)
        store.save_snapshot("t1", {"state": "awaiting_approval", "n": 2}, 2.0)
    with Store.open(store_url) as store:
        assert store.load_snapshot("t1") == {"state": "awaiting_approval", "n": 2}


def test_allow_rules_add_list_and_revoke(store: Store) -> None:
    first = store.add_allow_rule("s1", tool="run_command", command="df -h", created_at=1.0)
    second = store.add_allow_rule("s1", tool="read_file", created_at=2.0)
    store.add_allow_rule("s2", tool="http_check", created_at=3.0)
    rules = store.list_allow_rules("s1")
    assert [(r.id, r.tool, r.command) for r in rules] == [
        (first, "run_command", "df -h"),
        (second, "read_file", None),
    ]
    store.revoke_allow_rule(first)
    assert [r.id for r in store.list_allow_rules("s1")] == [second]
    with pytest.raises(StoreError) as again:
        store.revoke_allow_rule(first)
    assert again.value.kind == "not_found"


def test_a_turn_keeps_the_options_it_was_started_with(store: Store) -> None:
    store.create_session("s1", "builtin:ops", "t", 1.0)
    store.create_turn(
        "t1", "s1", "p", "builtin:ops", 2.0, options={"approve_mode": "read-only", "max_cost": 0.5}
    )
    store.create_turn("t2", "s1", "p", "builtin:ops", 3.0)
    assert store.get_turn("t1").options == {"approve_mode": "read-only", "max_cost": 0.5}
    assert store.get_turn("t2").options == {}


def test_a_version_1_database_gains_turn_options_on_open(db_path: Path) -> None:
    from opscopilot.store import db as storedb

    database = storedb.connect(db_path)
    storedb.migrate(database, TRACK, CORE_STEPS[:1])
    database.execute(
        "INSERT INTO sessions (id, model, title, created_at, updated_at) VALUES ('s', 'm', '', 1, 1)"
    )
    database.execute(
        "INSERT INTO turns (id, session_id, prompt, model, status, created_at, updated_at) "
        "VALUES ('t', 's', 'p', 'm', 'completed', 1, 1)"
    )
    database.conn.close()
    with Store.open(db_path) as store:
        turn = store.get_turn("t")
    assert turn is not None and turn.options == {} and turn.status == "completed"
