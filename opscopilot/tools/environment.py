"""Environment scrubbing: tool processes never inherit credentials from opscopilot's own env."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from opscopilot.redact import looks_secret_name

# Names that hold credentials without saying KEY/TOKEN/SECRET/PASSWORD/CREDENTIAL.
_EXTRA_SECRET_NAME = re.compile(
    r"^AWS_|_AUTH|^AUTH|PRIVATE|COOKIE|SESSION|_PWD$|_PASS$|^PASS|APIKEY|DSN$", re.IGNORECASE
)
# A URL with a user:password part (DATABASE_URL=postgres://u:p@host/db) is a secret whatever its name.
_URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def is_secret_variable(name: str, value: str = "") -> bool:
    """True when a variable's name or value looks like it carries a credential."""
    if looks_secret_name(name) or _EXTRA_SECRET_NAME.search(name):
        return True
    return bool(_URL_WITH_PASSWORD.search(value))


def scrubbed_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) without any variable that looks like a secret."""
    source = os.environ if base is None else base
    return {name: value for name, value in source.items() if not is_secret_variable(name, value)}
