"""`--debug` / `OPSCOPILOT_DEBUG=1`: a redacted debug log in a file, and where it is.

Everything written goes through `opscopilot.redact.redact` first (keys the process knows,
credential shapes), so the log is safe to attach to a bug report. The llm client logs each
attempt and error, httpx and httpcore log every request and connection step. Nothing here
loads unless debugging is asked for (the `prompt` cold-start budget).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

LOGGERS = ("opscopilot", "httpx", "httpcore")


def logs_dir() -> Path:
    from opscopilot import config

    return config.data_dir() / "logs"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets in the whole line (message, arguments, traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        from opscopilot.redact import redact

        return redact(super().format(record))


def start(argv: list[str] | None = None) -> Path:
    """Send the debug loggers to a new file under the data folder; returns its path."""
    from opscopilot import __version__
    from opscopilot.redact import redact, register_environment_secrets

    register_environment_secrets()
    folder = logs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = folder / f"debug-{stamp}-{os.getpid()}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    os.chmod(path, 0o600)
    log = logging.getLogger("opscopilot")
    log.debug(
        "opscopilot %s, python %s, %s, argv %s",
        __version__,
        sys.version.split()[0],
        sys.platform,
        redact(" ".join(argv if argv is not None else sys.argv[1:])),
    )
    return path
