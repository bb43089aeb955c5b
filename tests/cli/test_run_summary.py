"""`opscopilot run`'s closing summary line tells the truth about what the cost is."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.support import cli_env, opscopilot


def test_the_summary_marks_builtins_demo_cost_simulated(isolated_home: Path) -> None:
    done = opscopilot("run", "how full are the disks?", env=cli_env(isolated_home, None))
    assert done.returncode == 0, done.stderr
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("completed · turn ") and summary.endswith("(simulated)"), summary
