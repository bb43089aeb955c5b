"""The llm layer's one vocabulary: messages, requests, stream events, responses, usage, errors.

Every provider adapter translates to and from these types and nothing else. Data that
crosses a boundary (disk, wire, events, JSON output) is pydantic; the per-token stream
events are slotted dataclasses because they sit on the hot path (see benchmarks/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class LazyModel(BaseModel):
    """Builds its validator on first use, not at import: most commands need few of these
    models, and `prompt` sends its request before any but the request's are used."""

    model_config = ConfigDict(defer_build=True)


# --------------------------------------------------------------------------- model specs

PROVIDERS = ("openai", "anthropic", "gemini", "ollama", "builtin")


class ModelSpec(LazyModel):
    """`provider:model`, e.g. `anthropic:claude-sonnet-4-5`; presets count as providers."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        provider, sep, model = spec.strip().partition(":")
        if not sep or not provider or not model:
            raise LLMError(
                "bad_request",
                f"model spec {spec!r} is not provider:model (e.g. openai:gpt-4o-mini, builtin:ops)",
            )
        return cls(provider=provider.lower(), model=model)

    @classmethod
    def parse_chain(cls, specs: str) -> list[ModelSpec]:
        """A comma-separated list is a fallback chain, tried in order."""
        chain = [cls.parse(s) for s in specs.split(",") if s.strip()]
        if not chain:
            raise LLMError("bad_request", "no model given")
        return chain

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


# --------------------------------------------------------------------------- messages

Role = Literal["system", "user", "assistant", "tool"]


class TextPart(LazyModel):
    type: Literal["text"] = "text"
    text: str


class ThinkingPart(LazyModel):
    type: Literal["thinking"] = "thinking"
    text: str
    signature: str | None = None


class ToolCallPart(LazyModel):
    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolResultPart(LazyModel):
    type: Literal["tool_result"] = "tool_result"
    id: str
    content: str
    is_error: bool = False
    name: str | None = None  # Gemini answers a function by name, not id


class ImagePart(LazyModel):
    type: Literal["image"] = "image"
    media_type: str = "image/png"
    data: str | None = None  # base64
    url: str | None = None


Part = Annotated[
    TextPart | ThinkingPart | ToolCallPart | ToolResultPart | ImagePart,
    Field(discriminator="type"),
]


class Message(LazyModel):
    role: Role
    parts: list[Part] = Field(default_factory=list)

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(role="system", parts=[TextPart(text=text)])

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", parts=[TextPart(text=text)])

    @classmethod
    def assistant(cls, text: str = "", tool_calls: list[ToolCall] | None = None) -> Message:
        parts: list[Any] = [TextPart(text=text)] if text else []
        parts += [
            ToolCallPart(id=c.id, name=c.name, arguments=c.arguments) for c in tool_calls or []
        ]
        return cls(role="assistant", parts=parts)

    @classmethod
    def tool_result(
        cls, call_id: str, content: str, *, is_error: bool = False, name: str | None = None
    ) -> Message:
        part = ToolResultPart(id=call_id, content=content, is_error=is_error, name=name)
        return cls(role="tool", parts=[part])

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]


# --------------------------------------------------------------------------- tools


class ToolSpec(LazyModel):
    """A tool as the model sees it: a name, what it does, and a JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    @classmethod
    def from_model(cls, name: str, description: str, args_model: type[BaseModel]) -> ToolSpec:
        schema = args_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return cls(name=name, description=description, parameters=schema)


class ToolCall(LazyModel):
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    arguments_error: str | None = None  # the model's arguments could not be read (not JSON)


# --------------------------------------------------------------------------- request


class Request(LazyModel):
    """One canonical model call. `model` is the provider's own id (no `provider:` prefix)."""

    model: str
    messages: list[Message]
    system: str | None = None
    tools: list[ToolSpec] = Field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None
    thinking_budget: int | None = None  # tokens; None = provider default (usually off)
    stop: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- usage and cost

FinishReason = Literal[
    "stop", "length", "tool_calls", "content_filter", "budget", "error", "cancelled"
]


class Usage(LazyModel):
    """One meaning for every provider (DESIGN.md): input includes cache reads and writes;
    output includes reasoning."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


class PriceTier(LazyModel):
    """The rates of a call whose prompt is longer than `above_input_tokens` (long context).

    Providers that tier by prompt length (Gemini Pro, Claude Sonnet 4/4.5 with the 1M
    context, GPT-5.4/5.5, Grok) bill the whole call, output included, at the tier's rates.
    """

    model_config = ConfigDict(frozen=True)

    above_input_tokens: int = Field(gt=0)
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


class Price(LazyModel):
    """USD per million tokens. A missing cache price falls back to the input price.

    `tiers` (ascending `above_input_tokens`) replace these rates for calls whose prompt
    (`input_tokens`, cache reads and writes included) is longer than the tier's threshold.
    """

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    tiers: tuple[PriceTier, ...] = ()

    def at(self, input_tokens: int) -> Price | PriceTier:
        """The rates that apply to a call with `input_tokens` prompt tokens."""
        rates: Price | PriceTier = self
        for tier in self.tiers:
            if input_tokens > tier.above_input_tokens:
                rates = tier
        return rates

    def cost(self, usage: Usage) -> float:
        return self.cost_of(
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
        )

    def cost_of(
        self,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """The formula of DESIGN.md on plain counts (the stream guard prices every token),
        at the rates of the tier the prompt's length falls in."""
        rates = self.at(input_tokens) if self.tiers else self
        cache_read_price = rates.input if rates.cache_read is None else rates.cache_read
        cache_write_price = rates.input if rates.cache_write is None else rates.cache_write
        fresh_input = input_tokens - cache_read_tokens - cache_write_tokens
        return (
            max(fresh_input, 0) * rates.input
            + cache_read_tokens * cache_read_price
            + cache_write_tokens * cache_write_price
            + output_tokens * rates.output
        ) / 1e6


# --------------------------------------------------------------------------- errors

ErrorKind = Literal[
    "auth",
    "permission",
    "not_found",
    "bad_request",
    "context_length",
    "rate_limit",
    "overloaded",
    "server",
    "timeout",
    "connection",
    "invalid_response",
    "content_filter",
    "budget",
    "cancelled",
]

RETRYABLE_KINDS: frozenset[str] = frozenset(
    {"rate_limit", "overloaded", "server", "timeout", "connection"}
)


class LLMError(Exception):
    """Every failure in the llm layer: a kind the caller can act on, and whether a retry helps.

    The message is one readable line and never holds a key (callers pass text through
    `opscopilot.redact.redact` before it reaches here when it came from outside).
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retryable: bool | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.retryable = kind in RETRYABLE_KINDS if retryable is None else retryable
        self.status = status
        self.retry_after = retry_after
        self.provider = provider

    def info(self) -> ErrorInfo:
        return ErrorInfo(kind=self.kind, message=str(self), retryable=self.retryable)

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        return f"{where}{self.message}"


class ErrorInfo(LazyModel):
    kind: ErrorKind
    message: str
    retryable: bool


# --------------------------------------------------------------------------- stream events
# Slotted dataclasses: one is built per network event, so they must be cheap.


@dataclass(slots=True)
class TextDelta:
    text: str
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ThinkingDelta:
    text: str
    signature: str | None = None
    type: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str
    type: Literal["tool_call_start"] = "tool_call_start"


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments_delta: str
    type: Literal["tool_call_delta"] = "tool_call_delta"


@dataclass(slots=True)
class ToolCallEnd:
    index: int
    id: str
    name: str
    arguments: dict[str, Any]
    arguments_error: str | None = None  # not JSON, or not an object: the agent tells the model
    type: Literal["tool_call_end"] = "tool_call_end"


@dataclass(slots=True)
class UsageUpdate:
    """The provider's own figures; a later one replaces an earlier one (they are cumulative)."""

    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(slots=True)
class Finish:
    reason: FinishReason
    raw_reason: str | None = None
    type: Literal["finish"] = "finish"


@dataclass(slots=True)
class StreamError:
    error: LLMError
    type: Literal["error"] = "error"


@dataclass(slots=True)
class Attempt:
    """Emitted by `opscopilot.llm.client` (never by an adapter) before each try of a model.

    `attempt` counts tries of this model from 1; `chain_index` is the model's place in the
    fallback chain. A retry carries the delay about to be waited and why; the first try of
    a fallback model carries why the previous model was given up.
    """

    provider: str
    model: str
    attempt: int = 1
    chain_index: int = 0
    delay_s: float = 0.0
    reason: str | None = None
    type: Literal["attempt"] = "attempt"

    @property
    def is_retry(self) -> bool:
        return self.attempt > 1

    @property
    def is_fallback(self) -> bool:
        return self.attempt == 1 and self.chain_index > 0


StreamEvent = (
    TextDelta
    | ThinkingDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | UsageUpdate
    | Finish
    | StreamError
)


# --------------------------------------------------------------------------- response


class Response(LazyModel):
    """A whole call, aggregated from its stream. `cost_usd` is None when the price is unknown."""

    provider: str
    model: str
    text: str = ""
    thinking: str = ""
    thinking_signature: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: FinishReason = "stop"
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    cost_simulated: bool = False
    error: ErrorInfo | None = None

    def to_message(self) -> Message:
        parts: list[Any] = []
        if self.thinking:
            parts.append(ThinkingPart(text=self.thinking, signature=self.thinking_signature))
        if self.text:
            parts.append(TextPart(text=self.text))
        parts += [
            ToolCallPart(id=c.id, name=c.name, arguments=c.arguments) for c in self.tool_calls
        ]
        return Message(role="assistant", parts=parts)


@dataclass(slots=True)
class ResponseBuilder:
    """Folds stream events into a Response; the one place aggregation rules live."""

    provider: str
    model: str
    text_parts: list[str] = field(default_factory=list)
    thinking_parts: list[str] = field(default_factory=list)
    thinking_signature: str | None = None
    tool_calls: dict[int, ToolCall] = field(default_factory=dict)
    usage: Usage | None = None
    finish_reason: FinishReason | None = None
    error: LLMError | None = None

    def add(self, event: StreamEvent) -> None:
        kind = event.type
        if kind == "text":
            self.text_parts.append(event.text)  # type: ignore[union-attr]
        elif kind == "thinking":
            if event.text:  # type: ignore[union-attr]
                self.thinking_parts.append(event.text)  # type: ignore[union-attr]
            if event.signature:  # type: ignore[union-attr]
                self.thinking_signature = event.signature  # type: ignore[union-attr]
        elif kind == "tool_call_end":
            self.tool_calls[event.index] = ToolCall(  # type: ignore[union-attr]
                id=event.id,
                name=event.name,
                arguments=event.arguments,  # type: ignore[union-attr]
                arguments_error=event.arguments_error,  # type: ignore[union-attr]
            )
        elif kind == "usage":
            self.usage = event.usage  # type: ignore[union-attr]
        elif kind == "finish":
            self.finish_reason = event.reason  # type: ignore[union-attr]
        elif kind == "error":
            self.error = event.error  # type: ignore[union-attr]

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def build(self, *, price: Price | None = None, simulated: bool = False) -> Response:
        calls = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        if self.error is not None:
            reason: FinishReason = (
                "budget"
                if self.error.kind == "budget"
                else ("cancelled" if self.error.kind == "cancelled" else "error")
            )
        elif calls:
            reason = "tool_calls"
        else:
            reason = self.finish_reason or "stop"
        usage = self.usage or Usage()
        return Response(
            provider=self.provider,
            model=self.model,
            text=self.text,
            thinking="".join(self.thinking_parts),
            thinking_signature=self.thinking_signature,
            tool_calls=calls,
            finish_reason=reason,
            usage=usage,
            cost_usd=None if price is None else price.cost(usage),
            cost_simulated=simulated,
            error=None if self.error is None else self.error.info(),
        )
