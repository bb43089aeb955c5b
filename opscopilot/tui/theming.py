"""Themes from TOML files (bundled `themes/` and the operator's themes folder) and the
remembered choice; Textual is imported only when a spec becomes a `textual.theme.Theme`.

A theme file holds the Theme fields (`name`, `primary`, `background`, …, `dark`) and a
`[variables]` table for app variables such as the meter colours `meter-ok`, `meter-warn`
and `meter-over`. A broken file is reported as one line and skipped, never raised.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opscopilot import config

if TYPE_CHECKING:
    from textual.theme import Theme

DEFAULT_THEME = "opscopilot-dark"
STATE_FILE = "tui-state.json"

# Every theme (bundled, the operator's, Textual's own) gets these when it does not say.
VARIABLE_DEFAULTS: dict[str, str] = {
    "meter-ok": "#57AB5A",
    "meter-warn": "#E0A458",
    "meter-over": "#E5534B",
    "risk-read": "#57AB5A",
    "risk-write": "#E0A458",
    "risk-destructive": "#E5534B",
}

_COLOUR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)


@dataclass(frozen=True)
class ThemeSpec:
    """A theme as read from its file, before Textual sees it."""

    name: str
    source: Path
    dark: bool
    colours: dict[str, str]
    variables: dict[str, str] = field(default_factory=dict)
    luminosity_spread: float = 0.15
    text_alpha: float = 0.95

    def to_textual(self) -> Theme:
        from textual.theme import Theme

        return Theme(
            name=self.name,
            dark=self.dark,
            luminosity_spread=self.luminosity_spread,
            text_alpha=self.text_alpha,
            variables={**VARIABLE_DEFAULTS, **self.variables},
            **self.colours,
        )


class ThemeFileError(Exception):
    """A theme file that cannot be used; the message is one line naming the file."""


def parse_theme_file(path: Path) -> ThemeSpec:
    """Read one theme file, checking every colour Textual will parse."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"theme {path.name}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"theme {path.name}: cannot read ({exc})") from None
    name = data.get("name") or path.stem
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError(f"theme {path.name}: `name` must be a non-empty string")
    if not isinstance(data.get("primary"), str):
        raise ThemeFileError(f"theme {path.name}: `primary` colour is required")
    colours = {key: data[key] for key in _COLOUR_FIELDS if key in data}
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError(f"theme {path.name}: [variables] must be a table")
    for key, value in [*colours.items(), *variables.items()]:
        if not isinstance(value, str) or not _is_colour(value):
            raise ThemeFileError(f"theme {path.name}: {key} = {value!r} is not a colour")
    try:
        spread = float(data.get("luminosity_spread", 0.15))
        alpha = float(data.get("text_alpha", 0.95))
    except (TypeError, ValueError):
        raise ThemeFileError(
            f"theme {path.name}: luminosity_spread/text_alpha must be numbers"
        ) from None
    return ThemeSpec(
        name=name.strip(),
        source=path,
        dark=bool(data.get("dark", True)),
        colours=colours,
        variables={str(k): str(v) for k, v in variables.items()},
        luminosity_spread=spread,
        text_alpha=alpha,
    )


def _is_colour(value: str) -> bool:
    # Rich's colour parser is what Textual uses under the hood; it needs no Textual import.
    from rich.color import Color, ColorParseError

    try:
        Color.parse(value)
    except ColorParseError:
        return False
    return True


def theme_dirs() -> list[Path]:
    """Bundled themes first, so an operator's file of the same name overrides it."""
    return [config.bundled_dir("themes"), config.user_themes_dir()]


def load_theme_specs(dirs: list[Path] | None = None) -> tuple[list[ThemeSpec], list[str]]:
    """Every usable theme, by name (later folders win), and one error line per bad file."""
    by_name: dict[str, ThemeSpec] = {}
    errors: list[str] = []
    for folder in dirs if dirs is not None else theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                spec = parse_theme_file(path)
            except ThemeFileError as exc:
                errors.append(str(exc))
                continue
            by_name[spec.name] = spec
    return sorted(by_name.values(), key=lambda s: s.name), errors


# --- remembered state ----------------------------------------------------------------------


def state_path() -> Path:
    return config.data_dir() / STATE_FILE


def load_state() -> dict[str, Any]:
    """The TUI's small remembered state; a missing or broken file is an empty state."""
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(**changes: Any) -> None:
    """Merge `changes` into the state file, written atomically so a crash never truncates it."""
    path = state_path()
    state = {**load_state(), **changes}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    temporary.replace(path)


def remembered_theme() -> str | None:
    theme = load_state().get("theme")
    return theme if isinstance(theme, str) else None
