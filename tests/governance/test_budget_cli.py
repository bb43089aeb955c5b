from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from opscopilot.cli.main import cli
from opscopilot.governance import Ledger
from opscopilot.llm.types import Usage


def budget(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["budget", *args], env=env, catch_exceptions=False)


def spend(call_id: str, cost: float, session: str | None, model: str = "gpt-4o-mini") -> None:
    with Ledger() as ledger:
        ledger.record(
            call_id,
            session_id=session,
            turn_id=None,
            provider="openai",
            model=model,
            usage=Usage(input_tokens=100, output_tokens=50),
            cost_usd=cost,
            estimated=False,
            ts=time.time(),
        )


def test_set_stores_caps_that_show_reports_with_their_source() -> None:
    result = budget("set", "--per-day", "5", "--per-session", "2", "--warn-fraction", "0.9")
    assert result.exit_code == 0, result.output
    assert "per-day      $5.00  [budget set]" in result.output
    shown = json.loads(budget("show", "--json").output)
    assert shown["caps"]["day"] == {"cap_usd": 5.0, "source": "budget set"}
    assert shown["caps"]["session"]["cap_usd"] == 2.0
    assert shown["caps"]["call"] == {"cap_usd": None, "source": None}
    assert shown["warn_fraction"] == 0.9


def test_show_gives_todays_spend_per_cap_and_the_top_sessions_and_models() -> None:
    budget("set", "--per-day", "10", "--per-session", "4")
    spend("a", 1.5, "s-big", model="gpt-4o")
    spend("b", 0.5, "s-big")
    spend("c", 0.25, "s-small")
    spend("d", 0.75, None)
    shown = json.loads(budget("show", "--json", "--session", "s-small").output)
    assert shown["spent_today_usd"] == 3.0
    assert shown["day_cap"] == {
        "spent_usd": 3.0,
        "cap_usd": 10.0,
        "remaining_usd": 7.0,
        "fraction": 0.3,
    }
    assert [(s["session_id"], s["today_usd"]) for s in shown["top_sessions"]] == [
        ("s-big", 2.0),
        (None, 0.75),
        ("s-small", 0.25),
    ]
    assert shown["top_sessions"][0]["remaining_usd"] == 2.0
    assert [(m["model"], m["cost_usd"], m["calls"]) for m in shown["top_models"]] == [
        ("openai:gpt-4o", 1.5, 1),
        ("openai:gpt-4o-mini", 1.5, 3),  # a tie goes by name
    ]
    assert shown["session"]["spent_usd"] == 0.25 and shown["session"]["cap_usd"] == 4.0
    text = budget("show").output
    assert "today (" in text and "$3.00 of $10.00 per-day cap (30%, $7.00 left)" in text
    assert "s-big" in text and "openai:gpt-4o-mini" in text


def test_flag_env_and_config_precedence_shows_in_the_sources(isolated_home: Path) -> None:
    (isolated_home / "config.toml").write_text("[budget]\nper_call = 0.1\nper_day = 1.0\n")
    budget("set", "--per-day", "3")
    shown = json.loads(budget("show", "--json", env={"OPSCOPILOT_MAX_COST_PER_TURN": "0.5"}).output)
    assert shown["caps"]["call"] == {"cap_usd": 0.1, "source": "config.toml [budget] per_call"}
    assert shown["caps"]["day"] == {"cap_usd": 3.0, "source": "budget set"}
    assert shown["caps"]["turn"] == {"cap_usd": 0.5, "source": "env OPSCOPILOT_MAX_COST_PER_TURN"}


def test_none_removes_one_cap_and_clear_removes_all() -> None:
    budget("set", "--per-day", "3", "--per-call", "0.2")
    budget("set", "--per-call", "none")
    caps = json.loads(budget("show", "--json").output)["caps"]
    assert caps["call"]["cap_usd"] is None and caps["day"]["cap_usd"] == 3.0
    result = budget("set", "--clear", "--json")
    assert json.loads(result.output)["caps"]["day"] == {"cap_usd": None, "source": None}


def test_bad_input_is_a_usage_error_in_one_line() -> None:
    for args, message in [
        (("set",), "say what to set"),
        (("set", "--per-day", "-3"), "--per-day: a cap must be a non-negative amount"),
        (("set", "--per-call", "lots"), "--per-call: 'lots' is not an amount in USD"),
        (("set", "--warn-fraction", "2"), "warn_fraction must be above 0 and at most 1"),
        (("show", "--day", "yesterday"), "--day 'yesterday' is not YYYY-MM-DD"),
    ]:
        result = CliRunner().invoke(cli, ["budget", *args])
        assert result.exit_code == 2, args
        assert message in result.output, (args, result.output)


def test_a_broken_env_cap_is_reported_not_crashed_on() -> None:
    result = CliRunner().invoke(cli, ["budget", "show"], env={"OPSCOPILOT_MAX_COST_PER_DAY": "ten"})
    assert result.exit_code == 2
    assert "OPSCOPILOT_MAX_COST_PER_DAY: 'ten' is not an amount in USD" in result.output


def test_show_says_unknown_for_calls_of_a_model_with_no_price() -> None:
    spend("p", 0.25, "s-priced")
    with Ledger() as ledger:
        ledger.record(
            "u",
            session_id="s-unpriced",
            turn_id=None,
            provider="vllm",
            model="my-llama",
            usage=Usage(input_tokens=100, output_tokens=50),
            cost_usd=None,
            estimated=False,
            ts=time.time(),
        )
    shown = json.loads(budget("show", "--json").output)
    assert shown["unpriced_calls_today"] == 1
    models = {m["model"]: m for m in shown["top_models"]}
    assert models["vllm:my-llama"]["cost_usd"] is None
    assert models["vllm:my-llama"]["unpriced_calls"] == 1
    sessions = {s["session_id"]: s["today_usd"] for s in shown["top_sessions"]}
    assert sessions == {"s-priced": 0.25, "s-unpriced": None}
    text = budget("show").output
    assert "+ 1 calls of unknown cost" in text
    line = next(line for line in text.splitlines() if "vllm:my-llama" in line)
    assert "unknown" in line and "$0" not in line
    line = next(line for line in text.splitlines() if "s-unpriced" in line)
    assert "unknown" in line and "$0" not in line
