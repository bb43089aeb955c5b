"""The last tool listing of each server, kept in the data folder (`mcp-tools.json`).

A turn offers the cached listing at once and starts the servers in the background, so its
first model call does not wait for them; a call's risk is then judged, and the call run, on
the live listing. An entry holds only what the server published (names, descriptions,
schemas, annotations) and a fingerprint of the server's config table, so a changed table
never reuses an old listing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from opscopilot.mcp.config import ServerConfig
from opscopilot.mcp.connection import ListedTool

FILE_NAME = "mcp-tools.json"


def fingerprint(config: ServerConfig) -> str:
    table = asdict(config)
    return hashlib.sha256(json.dumps(table, sort_keys=True, default=str).encode()).hexdigest()


class ListingCache:
    """Read once, written when a live listing differs from what is kept."""

    def __init__(self, folder: Path | None) -> None:
        self.path = folder / FILE_NAME if folder is not None else None
        self._entries: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                try:
                    data = json.loads(self.path.read_text())
                    if isinstance(data, dict):
                        self._entries = data
                except (OSError, ValueError):
                    pass  # no cache, or a broken one: the servers are asked again
        return self._entries

    def get(self, config: ServerConfig) -> list[ListedTool] | None:
        entry = self._load().get(config.name)
        if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint(config):
            return None
        try:
            return [ListedTool(**tool) for tool in entry["tools"]]
        except (KeyError, TypeError):
            return None

    def put(self, config: ServerConfig, tools: list[ListedTool]) -> None:
        entry = {"fingerprint": fingerprint(config), "tools": [asdict(tool) for tool in tools]}
        entries = self._load()
        if entries.get(config.name) == entry or self.path is None:
            return
        entries[config.name] = entry
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(entries, indent=1))
            partial.replace(self.path)
        except OSError:
            pass  # a cache that cannot be written only costs the next turn a wait
