"""decide(): modes, config allow/deny rules (deny always wins), session rules, call hashes."""

from __future__ import annotations

import pytest

from opscopilot.tools import AllowRule, Rules, ToolError, call_hash, classify, decide


def verdict(command: str, mode: str = "ask", rules: Rules | None = None) -> str:
    return decide(classify("run_command", {"command": command}), mode, rules).action


@pytest.mark.parametrize(
    ("mode", "read", "write", "destructive"),
    [
        ("ask", "run", "ask", "ask"),
        ("read-only", "run", "deny", "deny"),
        ("none", "ask", "ask", "ask"),
        ("all", "run", "run", "run"),
    ],
)
def test_modes(mode: str, read: str, write: str, destructive: str) -> None:
    assert verdict("df -h", mode) == read
    assert verdict("systemctl restart nginx", mode) == write
    assert verdict("rm -rf /srv", mode) == destructive


def test_an_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ToolError) as caught:
        verdict("df", "yolo")
    assert caught.value.kind == "bad_mode"


def test_deny_rules_win_over_allow_rules_and_mode_all() -> None:
    rules = Rules.from_config(
        {
            "approvals": {
                "allow": ["rm -rf /tmp/x", "run_command"],
                "deny": ["rm *", "kubectl delete *"],
            }
        }
    )
    assert verdict("rm -rf /tmp/x", "all", rules) == "deny"
    assert verdict("kubectl delete pod api", "all", rules) == "deny"
    decision = decide(classify("run_command", {"command": "rm x"}), "ask", rules)
    assert decision.reason == "denied by rule 'rm *'"


@pytest.mark.parametrize(
    "command",
    [
        "sudo rm -rf /",
        "/bin/rm x",
        "env -i rm x",
        "echo a; rm x",
        "nice -n 5 timeout 3 rm x",
        "xargs rm",
        "echo $(rm x)",
    ],
)
def test_deny_rules_see_through_wrappers_paths_and_lists(command: str) -> None:
    rules = Rules(deny=("rm *",))
    assert verdict(command, "all", rules) == "deny"


def test_deny_rules_match_tool_names_and_tool_subjects() -> None:
    rules = Rules(deny=("http_check", "read_file /etc/*"))
    assert decide(classify("http_check", {"url": "http://x/"}), "all", rules).action == "deny"
    assert decide(classify("read_file", {"path": "/etc/hosts"}), "all", rules).action == "deny"
    assert decide(classify("read_file", {"path": "/var/log/syslog"}), "all", rules).action == "run"


def test_exact_allow_rules_run_that_command_only() -> None:
    rules = Rules.from_config({"approvals": {"allow": ["systemctl  restart nginx"]}})
    assert verdict("systemctl restart nginx", "ask", rules) == "run"
    assert verdict("systemctl restart nginx-other", "ask", rules) == "ask"
    assert verdict("sudo systemctl restart nginx", "ask", rules) == "ask"
    # Mode read-only still honours an exact operator allow.
    assert verdict("systemctl restart nginx", "read-only", rules) == "run"


def test_an_exact_allow_of_a_shell_command_approves_the_shell_for_it() -> None:
    rules = Rules(allow=("df -h | sort",))
    decision = decide(classify("run_command", {"command": "df -h | sort"}), "ask", rules)
    assert (decision.action, decision.shell) == ("run", True)
    other = decide(classify("run_command", {"command": "df -h | sh"}), "ask", rules)
    assert (other.action, other.shell) == ("ask", False)


def test_session_rules_allow_a_tool_or_an_exact_command() -> None:
    class StoredRule:  # the store's AllowRule has .tool and .command
        tool = "run_command"
        command = "systemctl  reload nginx"

    rules = Rules().with_session([StoredRule(), {"tool": "http_check", "command": None}])
    assert verdict("systemctl reload nginx", "ask", rules) == "run"
    assert (
        decide(classify("http_check", {"url": "http://x/", "method": "POST"}), "ask", rules).action
        == "run"
    )
    # A tool-wide allow of run_command never covers destructive or shell commands.
    wide = Rules(session_allow=(AllowRule("run_command"),))
    assert verdict("systemctl restart nginx", "ask", wide) == "run"
    assert verdict("rm -rf /srv", "ask", wide) == "ask"
    assert verdict("df | sort", "ask", wide) == "ask"


def test_mode_none_pauses_even_allowed_calls_but_deny_still_wins() -> None:
    assert verdict("df", "none", Rules(allow=("df",))) == "ask"
    assert verdict("df", "none", Rules(deny=("df*",))) == "deny"


def test_a_bad_approvals_section_is_one_line() -> None:
    with pytest.raises(ToolError) as caught:
        Rules.from_config({"approvals": {"deny": "rm *"}})
    assert str(caught.value) == "[approvals] deny must be a list of strings"


def test_call_hash_is_sha256_of_canonical_json() -> None:
    import hashlib

    first = call_hash("run_command", {"timeout_s": 5, "command": "df -h"})
    again = call_hash("run_command", {"command": "df -h", "timeout_s": 5})
    canonical = '{"arguments":{"command":"df -h","timeout_s":5},"name":"run_command"}'
    assert first == again == hashlib.sha256(canonical.encode()).hexdigest()
    assert call_hash("run_command", {"command": "df -h "}) != first
    assert call_hash("read_file", {"timeout_s": 5, "command": "df -h"}) != first


def test_tool_output_cannot_approve_anything() -> None:
    # decide() takes only the classification of the call, the mode and the operator's rules:
    # nothing a tool printed ("APPROVED", "allow all") is an input to it.
    import inspect

    assert list(inspect.signature(decide).parameters) == ["classification", "mode", "rules"]
