from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opscopilot.governance import Caps, GovernanceError, Ledger, Spent, load_caps, utc_day
from opscopilot.llm.types import Usage

NOON = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC


def record(
    ledger: Ledger,
    call_id: str,
    cost: float,
    *,
    estimated: bool = False,
    session: str = "s1",
    turn: str = "t1",
    ts: float = NOON,
    model: str = "m",
) -> None:
    ledger.record(
        call_id,
        session_id=session,
        turn_id=turn,
        provider="openai",
        model=model,
        usage=Usage(input_tokens=10, output_tokens=5),
        cost_usd=cost,
        estimated=estimated,
        ts=ts,
    )


def test_spend_is_summed_by_call_turn_session_and_utc_day(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        record(ledger, "c1", 0.10)
        record(ledger, "c2", 0.20, turn="t2")
        record(ledger, "c3", 0.40, session="s2", turn="t3", model="big")
        record(ledger, "c4", 1.00, session="s2", turn="t4", ts=NOON + 86_400)
        assert ledger.spent("call", "c2") == pytest.approx(0.20)
        assert ledger.spent("turn", "t1") == pytest.approx(0.10)
        assert ledger.spent("session", "s1") == pytest.approx(0.30)
        assert ledger.spent("day", utc_day(NOON)) == pytest.approx(0.70)
        assert ledger.spent_today(NOON + 86_400) == pytest.approx(1.00)
        assert ledger.spent_before(session_id="s2", turn_id="t3", now=NOON) == Spent(
            turn=pytest.approx(0.40), session=pytest.approx(1.40), day=pytest.approx(0.70)
        )
        by_model = ledger.totals_by("model", day=utc_day(NOON))
        assert [(g.key, round(g.cost_usd, 2), g.calls) for g in by_model] == [
            ("openai:big", 0.40, 1),
            ("openai:m", 0.30, 2),
        ]


def test_an_estimate_is_reconciled_and_never_overwrites_the_final_figure(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        record(ledger, "c1", 0.05, estimated=True)
        record(ledger, "c1", 0.07, estimated=True)
        assert ledger.spent("call", "c1") == pytest.approx(0.07)
        record(ledger, "c1", 0.06, estimated=False)
        record(ledger, "c1", 0.50, estimated=True)  # a late estimate loses
        row = ledger.get("c1")
        assert row is not None and not row.estimated
        assert row.cost_usd == pytest.approx(0.06)
        assert len(ledger.calls()) == 1


def test_the_days_spend_is_seen_by_another_process(store_url: str) -> None:
    db = store_url
    script = (
        "from opscopilot.governance import Ledger; from opscopilot.llm.types import Usage;"
        f"l = Ledger({db!r});"
        "l.record('x', session_id=None, turn_id=None, provider='p', model='m', usage=Usage(),"
        " cost_usd=2.5, estimated=False, ts=1750000000.0)"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    with Ledger(db) as ledger:
        assert ledger.spent_today(NOON) == pytest.approx(2.5)


def test_cap_precedence_is_flag_then_env_then_stored_then_config(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        config = {
            "per_call": 1,
            "per_turn": 2,
            "per_session": 3,
            "per_day": 4,
            "warn_fraction": 0.5,
        }
        caps = load_caps(ledger=ledger, environ={}, budget_section=config)
        assert (caps.per_call, caps.per_turn, caps.per_session, caps.per_day) == (1, 2, 3, 4)
        assert caps.warn_fraction == 0.5
        ledger.set_cap("day", 40)
        ledger.set_cap("session", 30)
        env = {"OPSCOPILOT_MAX_COST_PER_DAY": "400", "OPSCOPILOT_MAX_COST_PER_CALL": " "}
        caps = load_caps(ledger=ledger, environ=env, budget_section=config)
        assert (caps.per_call, caps.per_session, caps.per_day) == (1, 30, 400)
        assert caps.sources["day"] == "env OPSCOPILOT_MAX_COST_PER_DAY"
        assert caps.sources["session"] == "budget set"
        caps = load_caps(
            "0.25", flag_scope="turn", ledger=ledger, environ=env, budget_section=config
        )
        assert caps.per_turn == 0.25 and caps.sources["turn"] == "flag --max-cost"
        ledger.clear_cap()
        assert load_caps(ledger=ledger, environ={}, budget_section={}) == Caps()


def test_caps_come_from_config_toml_when_nothing_else_sets_them(isolated_home: Path) -> None:
    (isolated_home / "config.toml").write_text("[budget]\nper_day = 5.0\n")
    caps = load_caps(environ={})
    assert caps.per_day == 5.0 and caps.per_call is None


@pytest.mark.parametrize("bad", ["-1", "lots", "nan"])
def test_a_bad_cap_is_one_clear_line(bad: str) -> None:
    with pytest.raises(GovernanceError) as info:
        load_caps(environ={"OPSCOPILOT_MAX_COST_PER_DAY": bad}, budget_section={})
    assert info.value.kind == "bad_cap"
    assert "OPSCOPILOT_MAX_COST_PER_DAY" in str(info.value) and "\n" not in str(info.value)


def test_headroom_is_the_tightest_cap_after_what_was_spent() -> None:
    caps = Caps(per_call=1.0, per_session=5.0, per_day=10.0)
    assert caps.headroom(Spent(session=4.5, day=2.0)) == (pytest.approx(0.5), "session")
    assert caps.headroom(Spent(session=1.0, day=9.9)) == (pytest.approx(0.1), "day")
    assert Caps().headroom(Spent(day=100)) is None


def _held_as_summed(store_url: str, scope: str, key: str) -> float:
    """What the running totals replace: the sum over the calls, read straight from the table."""
    from opscopilot.store import db
    from opscopilot.store.ledger import held_sql

    conn = db.open_database(store_url)
    try:
        column = {"day": "day", "session": "session_id"}[scope]
        row = conn.execute(
            f"SELECT COALESCE(SUM({held_sql(conn.greatest)}), 0) FROM ledger_calls "
            f"WHERE {column} = ?",
            [key],
        ).fetchone()
        return float(row[0])
    finally:
        conn.close()


def test_the_day_and_session_totals_follow_every_estimate_final_reservation_and_release(
    store_url: str,
) -> None:
    day = utc_day(NOON)

    def hold(ledger: Ledger, call_id: str, amount: float, session: str | None = "s1") -> None:
        ledger.reserve(
            call_id,
            lambda spent: (spent, amount),
            session_id=session,
            turn_id="t9",
            provider="openai",
            model="m",
            ts=NOON,
        )

    with Ledger(store_url) as ledger:
        record(ledger, "c1", 0.10, estimated=True)
        hold(ledger, "c2", 0.30)
        assert ledger.spent("day", day) == pytest.approx(0.40)
        record(ledger, "c2", 0.05, estimated=True)  # below its reservation: still 0.30 held
        assert ledger.spent("session", "s1") == pytest.approx(0.40)
        record(ledger, "c2", 0.12)  # the final figure replaces the reservation
        hold(ledger, "c3", 0.50, session=None)  # a call of no session holds only its day
        assert ledger.spent_before(session_id="s1", turn_id=None, now=NOON) == Spent(
            session=pytest.approx(0.22), day=pytest.approx(0.72)
        )
        ledger.release("c2")
        ledger.release("c3")  # it recorded nothing: its row and its hold are gone
        assert ledger.get("c3") is None and ledger.reserved() == 0
        assert ledger.spent("day", day) == pytest.approx(0.22)
        assert ledger.spent("day", day, exclude_call="c1") == pytest.approx(0.12)
        assert ledger.spent("session", "s1", exclude_call="c2") == pytest.approx(0.10)
        assert ledger.spent("session", "nobody") == 0.0
        record(ledger, "c4", 1.0, session="s2", ts=NOON + 86_400)
        assert ledger.spent_today(NOON) == pytest.approx(0.22)
    for scope, key, expected in (("day", day, 0.22), ("session", "s1", 0.22), ("session", "s2", 1)):
        assert _held_as_summed(store_url, scope, key) == pytest.approx(expected)


def test_only_the_scopes_asked_for_are_read(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        record(ledger, "c1", 0.10)
        spent = ledger.spent_before(session_id="s1", turn_id="t1", now=NOON, scopes=("day",))
        assert spent == Spent(day=pytest.approx(0.10))
        assert ledger.spent_before(session_id="s1", turn_id="t1", now=NOON, scopes=()) == Spent()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_ledger_from_before_the_running_totals_starts_them_from_its_rows(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from opscopilot.store import db
    from opscopilot.store.ledger import MIGRATIONS, TRACK

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"ledger_v2_{os.getpid()}"
        with server.admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
        url = server.url(name)
    conn = db.open_database(url)
    db.migrate(conn, TRACK, MIGRATIONS[:2])  # the ledger as the last release left it
    for call_id, session, cost, estimated, reserved in (
        ("a", "s1", 0.25, 0, 0.0),
        ("b", "s1", 0.05, 1, 0.40),  # still running: its reservation counts
        ("c", None, 1.00, 0, 0.0),
    ):
        conn.execute(
            "INSERT INTO ledger_calls (call_id, session_id, turn_id, provider, model, day, "
            "cost_usd, estimated, reserved_usd, created_at, updated_at) "
            "VALUES (?, ?, 't', 'p', 'm', ?, ?, ?, ?, ?, ?)",
            [call_id, session, utc_day(NOON), cost, estimated, reserved, NOON, NOON],
        )
    conn.close()
    with Ledger(url) as ledger:
        assert ledger.spent("day", utc_day(NOON)) == pytest.approx(1.65)
        assert ledger.spent("session", "s1") == pytest.approx(0.65)
        record(ledger, "b", 0.07)
        assert ledger.spent("session", "s1") == pytest.approx(0.32)
