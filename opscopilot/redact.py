"""Secret redaction: the one filter every byte passes before it reaches disk or an error line.

Keys are recognised two ways: values we know are secrets (every key the config or
environment handed us is registered here when it is read) and patterns that look like
credentials wherever they came from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MASK = "[REDACTED]"

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)

_PATTERNS: list[re.Pattern[str]] = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"sk-(?:proj-|or-v1-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"gsk_[A-Za-z0-9]{20,}"),
    re.compile(r"xai-[A-Za-z0-9]{20,}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|access[_-]?token|token|secret|password)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;]{4,}"
    ),
    re.compile(r"(?i)([?&](?:key|api_key|token)=)[^&\s\"']+"),
]

_known_secrets: set[str] = set()
_extra_patterns: list[re.Pattern[str]] = []


def register_secret(value: str | None) -> None:
    """Remember a value that must never be written anywhere (a key read from env or config)."""
    if value and len(value) >= 6:
        _known_secrets.add(value)


def register_patterns(patterns: Iterable[str]) -> None:
    """Add operator-configured patterns (config.toml `[redact] patterns = [...]`)."""
    for pattern in patterns:
        compiled = re.compile(pattern)
        if compiled not in _extra_patterns:
            _extra_patterns.append(compiled)


def register_environment_secrets(environ: dict[str, str] | None = None) -> None:
    """Register the values of every variable whose name looks like a secret's."""
    for name, value in (os.environ if environ is None else environ).items():
        if _SECRET_NAME.search(name):
            register_secret(value)


def looks_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _mask(match: re.Match[str]) -> str:
    # Patterns with a leading group keep their label ("Bearer ", "api_key=") visible.
    if match.re.groups and match.group(1):
        return match.group(1) + MASK
    return MASK


def redact(text: str) -> str:
    """Return `text` with every known secret and credential-looking string masked."""
    if not text:
        return text
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    for pattern in _extra_patterns:
        text = pattern.sub(_mask, text)
    return text
