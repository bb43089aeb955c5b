"""`[serve]` in config.toml: where the page is reached from (for links) and for how long links live."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_LINK_TTL_S = 3600.0


@dataclass(frozen=True)
class ServeSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    configured_public_url: str | None = None  # `[serve] public_url`, when set
    link_ttl_s: float = DEFAULT_LINK_TTL_S
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def from_config(cls) -> ServeSettings:
        from opscopilot import config

        section = config.section("serve")
        where = f"{config.config_path()}: [serve]"
        host = section.get("host", DEFAULT_HOST)
        port = section.get("port", DEFAULT_PORT)
        if not isinstance(host, str) or not host:
            raise config.ConfigError(f"{where} host must be a host name or address")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise config.ConfigError(f"{where} port must be a port number")
        public_url = section.get("public_url")
        if public_url is not None and (
            not isinstance(public_url, str) or not public_url.startswith(("http://", "https://"))
        ):
            raise config.ConfigError(f"{where} public_url must be an http:// or https:// URL")
        ttl = section.get("link_ttl_s", DEFAULT_LINK_TTL_S)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise config.ConfigError(f"{where} link_ttl_s must be a positive number")
        proxies = section.get("trusted_proxies", [])
        if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
            raise config.ConfigError(f"{where} trusted_proxies must be a list of addresses")
        public_url = public_url.rstrip("/") if public_url else None
        return cls(host, port, public_url, float(ttl), tuple(proxies))

    def public_url(self, host: str | None = None, port: int | None = None) -> str:
        """Where links point: `[serve] public_url`, else this server's own address."""
        if self.configured_public_url:
            return self.configured_public_url
        host = host or self.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port if port is None else port}"
