"""Where things live and what the operator configured.

`OPSCOPILOT_HOME`, when set, holds everything (config.toml, opscopilot.db, recordings/,
themes/); unset, platformdirs' user config and data folders. Precedence everywhere:
command-line flag > environment > config.toml > built-in default. Each layer validates its
own section of the file (e.g. `[budget]` in governance, `[tools.*]` in tools), so this
module only finds, reads and hands out sections.
"""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from opscopilot import redact

DEFAULT_MODEL = "builtin:ops"


class ConfigError(Exception):
    """config.toml could not be read or a section is invalid; the message is one line."""


def home() -> Path | None:
    value = os.environ.get("OPSCOPILOT_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    if (root := home()) is not None:
        return root
    import platformdirs

    return Path(platformdirs.user_config_dir("opscopilot", appauthor=False))


def data_dir() -> Path:
    if (root := home()) is not None:
        return root
    import platformdirs

    return Path(platformdirs.user_data_dir("opscopilot", appauthor=False))


def config_path() -> Path:
    return config_dir() / "config.toml"


def db_path() -> Path:
    return data_dir() / "opscopilot.db"


def recordings_dir() -> Path:
    return data_dir() / "recordings"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def bundled_dir(name: str) -> Path:
    """A top-level data folder (`themes`, `recordings`) in a checkout or an installed wheel."""
    packaged = Path(__file__).parent / "_bundled" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).parent.parent / name


def load_config(path: Path | None = None) -> dict[str, Any]:
    """Read config.toml (missing is fine: {}); a broken file is one ConfigError line."""
    path = path or config_path()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    redact.register_config_secrets(data)  # api_key, tokens, passwords, Authorization headers
    redact.register_patterns((data.get("redact") or {}).get("patterns", []))
    return data


@cache
def _cached_config(path: str) -> dict[str, Any]:
    return load_config(Path(path))


def config() -> dict[str, Any]:
    """The operator's config, read once per process."""
    return _cached_config(str(config_path()))


def section(name: str) -> dict[str, Any]:
    value = config().get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{config_path()}: [{name}] must be a table")
    return value


def default_model() -> str:
    """Flag > OPSCOPILOT_MODEL > config.toml [defaults] model > builtin:ops."""
    return os.environ.get("OPSCOPILOT_MODEL") or section("defaults").get("model") or DEFAULT_MODEL
