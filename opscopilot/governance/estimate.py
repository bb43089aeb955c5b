"""Cheap local token estimates and the check made before every model call.

The estimate is characters / 4 (the usual rule of thumb for English and code in BPE
tokenizers), scaled per provider where their tokenizers are known to differ; it runs on
every call, so it never loads a tokenizer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from opscopilot.governance.caps import Caps
from opscopilot.governance.ledger import Scope, Spent
from opscopilot.llm.types import (
    ImagePart,
    Price,
    Request,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)

CHARS_PER_TOKEN = 4.0
# Tokens per character relative to the OpenAI-style default; Claude's tokenizer yields
# somewhat more tokens for the same text.
PROVIDER_FACTOR: dict[str, float] = {"anthropic": 1.15}
MESSAGE_OVERHEAD_TOKENS = 4  # role markers and separators each message costs
IMAGE_TOKENS = 1000  # a mid-sized image; providers charge roughly this much
MIN_OUTPUT_TOKENS = 16  # below this a call cannot say anything useful


def estimate_text_tokens(chars: int, provider: str | None = None) -> float:
    """Tokens for `chars` characters of generated or prompt text (fractional on purpose)."""
    return chars / CHARS_PER_TOKEN * PROVIDER_FACTOR.get(provider or "", 1.0)


def estimate_prompt_tokens(request: Request, provider: str | None = None) -> int:
    """Every prompt token of `request`: system, messages, tool calls and results, tool schemas."""
    chars = len(request.system or "")
    overhead = MESSAGE_OVERHEAD_TOKENS if request.system else 0
    for message in request.messages:
        overhead += MESSAGE_OVERHEAD_TOKENS
        for part in message.parts:
            if isinstance(part, TextPart | ThinkingPart):
                chars += len(part.text)
            elif isinstance(part, ToolCallPart):
                chars += len(part.name) + len(json.dumps(part.arguments, ensure_ascii=False))
            elif isinstance(part, ToolResultPart):
                chars += len(part.content)
            elif isinstance(part, ImagePart):
                overhead += IMAGE_TOKENS
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description)
        chars += len(json.dumps(tool.parameters, ensure_ascii=False))
        overhead += MESSAGE_OVERHEAD_TOKENS
    return math.ceil(estimate_text_tokens(chars, provider)) + overhead


@dataclass(frozen=True, slots=True)
class Preflight:
    """The verdict before a call: may it run, with what max_tokens, and why not if not."""

    allowed: bool
    max_tokens: int | None
    reason: str = ""
    prompt_tokens: int = 0
    scope: Scope | None = None  # the cap that refused or lowered the call
    cap_usd: float | None = None
    spent_usd: float = 0.0


def preflight(
    request: Request,
    price: Price | None,
    caps: Caps,
    spent: Spent,
    *,
    provider: str | None = None,
    price_hint: str = "",
    min_output_tokens: int = MIN_OUTPUT_TOKENS,
) -> Preflight:
    """Refuse a call the remaining budget cannot pay for, or lower its max_tokens so it can.

    The prompt is priced at the input rate in full (a cache hit only makes it cheaper), and
    the output allowed at the output rate, both of the tier the prompt's length falls in. With a cap set and no price known the call is
    refused: a cap that cannot be enforced is not assumed to be free.
    """
    prompt_tokens = estimate_prompt_tokens(request, provider)
    headroom = caps.headroom(spent)
    if headroom is None:
        return Preflight(True, request.max_tokens, prompt_tokens=prompt_tokens)
    left, scope = headroom
    cap = caps.cap(scope)
    assert cap is not None
    spent_usd = cap - left
    label = scope_label(scope)
    if left <= 0:
        return Preflight(
            False,
            request.max_tokens,
            prompt_tokens=prompt_tokens,
            scope=scope,
            cap_usd=cap,
            spent_usd=spent_usd,
            reason=f"{label} cap of {usd(cap)} already reached ({usd(spent_usd)} spent)",
        )
    if price is None:
        hint = f" ({price_hint})" if price_hint else ""
        return Preflight(
            False,
            request.max_tokens,
            prompt_tokens=prompt_tokens,
            scope=scope,
            cap_usd=cap,
            spent_usd=spent_usd,
            reason=f"no price known for {request.model}, so the {label} cap of {usd(cap)} "
            f"cannot be enforced{hint}",
        )
    prompt_cost = price.cost(Usage(input_tokens=prompt_tokens))
    output_rate = price.at(prompt_tokens).output  # a long prompt pays the tier's output rate
    if output_rate <= 0:
        affordable = None if prompt_cost <= left else 0
    else:
        affordable = math.floor((left - prompt_cost) * 1e6 / output_rate)
    if affordable is not None and affordable < min_output_tokens:
        return Preflight(
            False,
            request.max_tokens,
            prompt_tokens=prompt_tokens,
            scope=scope,
            cap_usd=cap,
            spent_usd=spent_usd,
            reason=f"{label} cap of {usd(cap)} leaves {usd(left)}, not enough for the prompt "
            f"(~{prompt_tokens} tokens, {usd(prompt_cost)}) and a useful answer",
        )
    if affordable is not None and (request.max_tokens is None or request.max_tokens > affordable):
        return Preflight(
            True,
            affordable,
            prompt_tokens=prompt_tokens,
            scope=scope,
            cap_usd=cap,
            spent_usd=spent_usd,
            reason=f"max_tokens lowered to {affordable} to stay within the {label} cap of {usd(cap)}",
        )
    return Preflight(
        True,
        request.max_tokens,
        prompt_tokens=prompt_tokens,
        scope=scope,
        cap_usd=cap,
        spent_usd=spent_usd,
    )


def scope_label(scope: Scope) -> str:
    """`per-call`, `per-turn`, … as operators read it in messages."""
    return {"call": "per-call", "turn": "per-turn", "session": "per-session", "day": "per-day"}[
        scope
    ]


def usd(amount: float) -> str:
    """Dollars with enough digits to tell small amounts apart ($0.0042, $1.25)."""
    if amount == 0:
        return "$0"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    digits = f"{amount:.6f}".rstrip("0")
    whole, _, decimals = digits.partition(".")
    return f"${whole}.{decimals.ljust(2, '0')}"
