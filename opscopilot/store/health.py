"""What `opscopilot doctor` says about the store: which one, its server's version, how far away."""

from __future__ import annotations

import time
from dataclasses import dataclass

from opscopilot.store.location import StoreLocation


@dataclass(frozen=True)
class StoreHealth:
    ok: bool
    backend: str
    location: str  # without the password
    version: str = ""
    latency_ms: float | None = None  # median of a few round trips
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "backend": self.backend,
            "location": self.location,
            "version": self.version,
            "latency_ms": self.latency_ms,
            "detail": self.detail,
        }

    def line(self) -> str:
        if not self.ok:  # the detail names the store already when it could not connect
            return (
                self.detail if self.location in self.detail else f"{self.location}: {self.detail}"
            )
        return (
            f"{self.backend} {self.location} ({self.version}), round trip {self.latency_ms:.2f} ms"
        )


def check(target: StoreLocation | str | None = None, *, round_trips: int = 5) -> StoreHealth:
    """Open the configured (or given) store, ask its version, time a few `SELECT 1`s."""
    from opscopilot.store import db
    from opscopilot.store.location import LocationError, resolve

    try:
        location = resolve(target)
    except LocationError as exc:
        return StoreHealth(False, "unknown", str(target or "configured store"), detail=str(exc))
    try:
        conn = db.open_database(location)
    except db.StoreError as exc:
        return StoreHealth(False, location.backend, location.display(), detail=str(exc))
    try:
        version = conn.server_version()
        times = []
        for _ in range(max(1, round_trips)):
            started = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        return StoreHealth(
            True, location.backend, location.display(), version, times[len(times) // 2]
        )
    except Exception as exc:  # whatever the driver says, as one line
        return StoreHealth(
            False, location.backend, location.display(), detail=location.scrub(str(exc))
        )
    finally:
        conn.close()
