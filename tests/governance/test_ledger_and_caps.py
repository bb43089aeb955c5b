from __future__ import annotations

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
