"""Provider registry: a spec's provider name -> settings (URL, key) -> an adapter instance.

OpenAI-compatible servers are presets of the OpenAI adapter: a default base URL and the
variable their key lives in. Adapter modules are imported only when used.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from opscopilot import config, redact
from opscopilot.llm.providers.base import Provider, ProviderSettings, env_first
from opscopilot.llm.types import LLMError

if TYPE_CHECKING:
    import httpx

ADAPTERS: dict[str, str] = {
    "openai": "opscopilot.llm.providers.openai:OpenAIProvider",
    "anthropic": "opscopilot.llm.providers.anthropic:AnthropicProvider",
    "gemini": "opscopilot.llm.providers.gemini:GeminiProvider",
    "ollama": "opscopilot.llm.providers.ollama:OllamaProvider",
    "builtin": "opscopilot.llm.providers.builtin:BuiltinProvider",
    "replay": "opscopilot.replay.provider:RecordedProvider",
}

# name -> (adapter, default base URL, key variables, key required, base-URL variable)
KNOWN: dict[str, tuple[str, str, tuple[str, ...], bool, str]] = {
    "openai": ("openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",), True, "OPENAI_BASE_URL"),
    "anthropic": (
        "anthropic",
        "https://api.anthropic.com",
        ("ANTHROPIC_API_KEY",),
        True,
        "ANTHROPIC_BASE_URL",
    ),
    "gemini": (
        "gemini",
        "https://generativelanguage.googleapis.com",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        True,
        "GEMINI_BASE_URL",
    ),
    "ollama": ("ollama", "http://127.0.0.1:11434", (), False, "OLLAMA_HOST"),
    "builtin": ("builtin", "builtin://ops", (), False, ""),
    # answers from a recording: `replay:PATH` (see opscopilot/replay/provider.py)
    "replay": ("replay", "replay://", (), False, ""),
    # OpenAI-compatible presets
    "vllm": ("openai", "http://127.0.0.1:8000/v1", ("VLLM_API_KEY",), False, "VLLM_BASE_URL"),
    "llamacpp": (
        "openai",
        "http://127.0.0.1:8080/v1",
        ("LLAMACPP_API_KEY",),
        False,
        "LLAMACPP_BASE_URL",
    ),
    "lmstudio": (
        "openai",
        "http://127.0.0.1:1234/v1",
        ("LMSTUDIO_API_KEY",),
        False,
        "LMSTUDIO_BASE_URL",
    ),
    "openrouter": (
        "openai",
        "https://openrouter.ai/api/v1",
        ("OPENROUTER_API_KEY",),
        True,
        "OPENROUTER_BASE_URL",
    ),
    "groq": ("openai", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",), True, "GROQ_BASE_URL"),
    "deepseek": (
        "openai",
        "https://api.deepseek.com/v1",
        ("DEEPSEEK_API_KEY",),
        True,
        "DEEPSEEK_BASE_URL",
    ),
    "mistral": (
        "openai",
        "https://api.mistral.ai/v1",
        ("MISTRAL_API_KEY",),
        True,
        "MISTRAL_BASE_URL",
    ),
    "together": (
        "openai",
        "https://api.together.xyz/v1",
        ("TOGETHER_API_KEY",),
        True,
        "TOGETHER_BASE_URL",
    ),
    "xai": ("openai", "https://api.x.ai/v1", ("XAI_API_KEY",), True, "XAI_BASE_URL"),
}


def settings_for(name: str) -> ProviderSettings:
    """Resolve a provider's settings: environment > config.toml [providers.NAME] > preset.

    A provider unknown to us may still be declared in config.toml with `adapter = "openai"`
    (or another adapter) and a `base_url`.
    """
    section = config.section("providers").get(name) or {}
    if not isinstance(section, dict):
        raise LLMError("bad_request", f"config.toml: [providers.{name}] must be a table")
    known = KNOWN.get(name)
    if known is None and "adapter" not in section:
        names = ", ".join(sorted(KNOWN))
        raise LLMError(
            "not_found",
            f"unknown provider {name!r} (known: {names}; or declare [providers.{name}] "
            'with adapter = "openai" and base_url in config.toml)',
        )
    adapter, default_url, key_vars, key_required, url_var = known or (
        section["adapter"],
        "",
        (),
        False,
        "",
    )
    adapter = section.get("adapter", adapter)
    if adapter not in ADAPTERS:
        raise LLMError(
            "bad_request",
            f"config.toml: [providers.{name}] adapter {adapter!r} is not one of {', '.join(ADAPTERS)}",
        )
    key_vars = tuple(section.get("key_env", [])) or key_vars
    api_key = env_first(*key_vars) or section.get("api_key")
    redact.register_secret(api_key)
    base_url = (
        (os.environ.get(url_var) if url_var else None) or section.get("base_url") or default_url
    )
    if not base_url:
        raise LLMError("bad_request", f"config.toml: [providers.{name}] needs a base_url")
    if name == "ollama" and "://" not in base_url:
        base_url = "http://" + base_url  # OLLAMA_HOST is often host:port
    return ProviderSettings(
        name=name,
        adapter=adapter,
        base_url=base_url.rstrip("/"),
        api_key=api_key,
        key_vars=key_vars,
        key_required=bool(section.get("key_required", key_required)),
        timeout_s=float(section.get("timeout_s", 600.0)),
        headers=dict(section.get("headers", {})),
        extra={k: v for k, v in section.items() if k not in {"api_key", "headers"}},
    )


def open_provider(name: str, http: httpx.AsyncClient | None) -> Provider:
    """An adapter instance for `name`, sending over `http` (one client shared per process)."""
    settings = settings_for(name)
    module_name, _, class_name = ADAPTERS[settings.adapter].partition(":")
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return adapter_class(settings, http)
