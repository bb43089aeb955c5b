"""Theme files, the remembered choice, and `opscopilot themes list` (none of it needs Textual)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from opscopilot import config
from opscopilot.cli.main import cli
from opscopilot.tui import theming

BUNDLED = {"opscopilot-dark", "opscopilot-light", "opscopilot-high-contrast"}


def test_the_bundled_themes_parse_and_carry_meter_colours():
    specs, errors = theming.load_theme_specs()
    assert errors == []
    assert {s.name for s in specs} >= BUNDLED
    for spec in specs:
        theme = spec.to_textual()
        assert {"meter-ok", "meter-warn", "meter-over"} <= set(theme.variables)
    light = next(s for s in specs if s.name == "opscopilot-light")
    assert light.dark is False


def test_a_bad_theme_file_is_one_error_line_and_the_rest_still_load(isolated_home: Path):
    folder = config.user_themes_dir()
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text('name = "broken"\nprimary = "#12"\n[variables\n')
    (folder / "badcolour.toml").write_text('name = "badcolour"\nprimary = "not-a-colour"\n')
    (folder / "mine.toml").write_text(
        'name = "mine"\nprimary = "#336699"\n[variables]\nmeter-ok = "#00ff00"\n'
    )
    specs, errors = theming.load_theme_specs()
    assert sorted(e.split(":")[0] for e in errors) == ["theme badcolour.toml", "theme broken.toml"]
    assert all("\n" not in e for e in errors)
    mine = next(s for s in specs if s.name == "mine")
    assert mine.to_textual().variables["meter-ok"] == "#00ff00"
    assert mine.to_textual().variables["meter-over"] == theming.VARIABLE_DEFAULTS["meter-over"]


def test_an_operator_theme_with_a_bundled_name_overrides_it(isolated_home: Path):
    folder = config.user_themes_dir()
    folder.mkdir(parents=True)
    (folder / "x.toml").write_text('name = "opscopilot-dark"\nprimary = "#FF00FF"\n')
    specs, _ = theming.load_theme_specs()
    assert next(s for s in specs if s.name == "opscopilot-dark").colours["primary"] == "#FF00FF"


def test_the_state_file_remembers_the_theme_and_survives_garbage(isolated_home: Path):
    assert theming.remembered_theme() is None
    theming.save_state(theme="opscopilot-light")
    theming.save_state(other=1)
    assert theming.remembered_theme() == "opscopilot-light"
    theming.state_path().write_text("{not json")
    assert theming.remembered_theme() is None


def test_themes_list_marks_the_remembered_theme_and_reports_bad_files(isolated_home: Path):
    theming.save_state(theme="opscopilot-light")
    folder = config.user_themes_dir()
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text("=")
    result = CliRunner().invoke(cli, ["themes", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} == BUNDLED
    assert [r["name"] for r in rows if r["current"]] == ["opscopilot-light"]
    assert "skipped: theme broken.toml" in result.stderr
    text = CliRunner().invoke(cli, ["themes", "list"])
    assert "* opscopilot-light" in text.stdout
