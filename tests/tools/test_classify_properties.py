"""Property tests: classification can only be made safer by wrapping, never riskier to miss."""

from __future__ import annotations

import shlex

from hypothesis import given, settings
from hypothesis import strategies as st

from opscopilot.tools import classify
from opscopilot.tools.base import RISK_ORDER
from opscopilot.tools.commands import ALLOWED, GRADERS

WORD = st.text(
    alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters="-_./=:,+@%"),
    min_size=1,
    max_size=12,
)
KNOWN = set(ALLOWED) | set(GRADERS) | {"rm", "sudo", "env", "xargs", "nice", "sh"}
UNKNOWN_PROGRAM = WORD.filter(lambda w: w.rsplit("/", 1)[-1] not in KNOWN and "=" not in w)
KNOWN_COMMANDS = st.sampled_from(
    [
        "df -h",
        "rm -rf /tmp/x",
        "systemctl status nginx",
        "systemctl stop nginx",
        "cat /etc/hosts",
        "kubectl get pods",
        "kubectl delete pod x",
        "git log",
        "git push --force",
        "ls -la",
        "curl -sS http://localhost/",
        "journalctl -u nginx",
        "docker ps",
        "docker rm web",
        "uptime",
    ]
)
WRAPPERS = st.sampled_from(
    [
        "sudo",
        "sudo -u root",
        "env",
        "env -i",
        "env A=1",
        "nohup",
        "timeout 5",
        "timeout -s KILL 3",
        "nice",
        "nice -n 5",
        "ionice -c 3",
        "stdbuf -oL",
        "xargs",
        "xargs -0",
        "busybox",
        "command",
        "setsid",
        "time",
        "/usr/bin/sudo",
        "LANG=C",
    ]
)
METACHARACTERS = st.sampled_from(
    ["|", "||", "&&", ";", ">", ">>", "<", "$(id)", "`id`", "\n", "&", "*", "$HOME"]
)


def rank(command: str) -> int:
    return RISK_ORDER[classify("run_command", {"command": command}).risk]


@settings(max_examples=150, deadline=None)
@given(UNKNOWN_PROGRAM, st.lists(WORD, max_size=4))
def test_an_unknown_program_is_never_read(program: str, args: list[str]) -> None:
    command = shlex.join([program, *args])
    assert classify("run_command", {"command": command}).risk != "read"


@settings(max_examples=150, deadline=None)
@given(st.lists(WRAPPERS, min_size=1, max_size=3), KNOWN_COMMANDS)
def test_adding_a_wrapper_never_lowers_the_risk(wrappers: list[str], command: str) -> None:
    assert rank(" ".join([*wrappers, command])) >= rank(command)


@settings(max_examples=150, deadline=None)
@given(KNOWN_COMMANDS, METACHARACTERS, KNOWN_COMMANDS)
def test_shell_metacharacters_always_need_the_shell(left: str, meta: str, right: str) -> None:
    classification = classify("run_command", {"command": f"{left} {meta} {right}"})
    assert classification.needs_shell
    assert classification.risk != "read"


@settings(max_examples=100, deadline=None)
@given(KNOWN_COMMANDS, st.sampled_from(["|", "||", "&&", ";", "\n", "&"]), KNOWN_COMMANDS)
def test_a_command_list_is_at_least_as_risky_as_its_riskiest_part(
    left: str, operator: str, right: str
) -> None:
    assert rank(f"{left} {operator} {right}") >= max(rank(left), rank(right))


@settings(max_examples=100, deadline=None)
@given(KNOWN_COMMANDS, KNOWN_COMMANDS)
def test_a_substitution_is_classified_like_the_command_it_runs(outer: str, inner: str) -> None:
    assert rank(f"{outer} $({inner})") >= rank(inner)
    assert rank(f"{outer} `{inner}`") >= rank(inner)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_classify_never_raises_on_arbitrary_text(command: str) -> None:
    classification = classify("run_command", {"command": command})
    assert classification.risk in RISK_ORDER
