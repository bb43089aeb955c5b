"""`opscopilot tui`: options, a clear usage error, and Textual loaded only when it runs."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from opscopilot.cli.main import cli


def test_tui_help_lists_the_contract_options():
    result = CliRunner().invoke(cli, ["tui", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--theme", "--session"):
        assert option in result.output


def test_a_model_that_is_not_provider_colon_model_is_a_usage_error():
    result = CliRunner().invoke(cli, ["tui", "--model", "gpt4"])
    assert result.exit_code == 2
    assert "not provider:model" in result.output


def test_tui_record_flag_and_a_bad_recording_section_is_a_usage_error(isolated_home):
    assert "--record" in CliRunner().invoke(cli, ["tui", "--help"]).output
    (isolated_home / "config.toml").write_text("[recording]\ndir = 3\n")
    result = CliRunner().invoke(cli, ["tui", "--record"])
    assert result.exit_code == 2
    assert "[recording] dir must be a folder path" in result.output


def test_importing_the_tui_commands_does_not_load_textual():
    code = (
        "import sys, opscopilot.cli.tui_cmd, opscopilot.cli.themes\n"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
