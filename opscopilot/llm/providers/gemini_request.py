"""Canonical Request -> the body of Gemini's `streamGenerateContent` (contents, tools, config).

Gemini differs from the chat-completions shape in three ways that matter here: the assistant
role is `model`; a tool result answers a function by NAME (not by call id) and travels in a
`user` turn; and its schema dialect is an OpenAPI subset that rejects several JSON-Schema
keys (`title`, `additionalProperties`, `$ref`/`$defs`, …), so tool schemas are rewritten.
"""

from __future__ import annotations

from typing import Any

from opscopilot.llm.types import (
    ImagePart,
    LLMError,
    Message,
    Request,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)

# Keys of Gemini's Schema object; everything else is dropped (an allowlist survives new
# JSON-Schema keywords that pydantic may start emitting).
_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "properties",
        "required",
        "items",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "anyOf",
        "propertyOrdering",
        "minProperties",
        "maxProperties",
    }
)


def build_body(request: Request) -> dict[str, Any]:
    """The JSON body for one streamed call."""
    system_texts = [request.system] if request.system else []
    system_texts += [m.text for m in request.messages if m.role == "system" and m.text]
    body: dict[str, Any] = {"contents": build_contents(request.messages)}
    if system_texts:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system_texts)}]}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.thinking_budget is not None:
        config["thinkingConfig"] = {
            "thinkingBudget": request.thinking_budget,
            "includeThoughts": request.thinking_budget != 0,
        }
    if config:
        body["generationConfig"] = config
    return body


def build_contents(messages: list[Message]) -> list[dict[str, Any]]:
    """Canonical messages -> Gemini `contents`; consecutive turns of one role are merged."""
    call_names: dict[str, str] = {}
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue  # goes to systemInstruction
        role = "model" if message.role == "assistant" else "user"
        if message.role == "assistant":
            parts = _model_parts(message, call_names)
        else:
            parts = [_user_part(part, call_names) for part in message.parts]
            parts = [p for p in parts if p is not None]
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)  # parallel tool results share one turn
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _model_parts(message: Message, call_names: dict[str, str]) -> list[dict[str, Any]]:
    signature = next(
        (p.signature for p in message.parts if isinstance(p, ThinkingPart) and p.signature), None
    )
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart) and part.text:
            parts.append({"text": part.text})
        elif isinstance(part, ToolCallPart):
            call_names[part.id] = part.name
            parts.append({"functionCall": {"name": part.name, "args": part.arguments}})
        # Thought summaries are not sent back: Gemini only needs the signature.
    if signature and parts:
        # Gemini attaches the signature to the first function call (else the last text part)
        # and wants it returned on the same part.
        target = next((p for p in parts if "functionCall" in p), parts[-1])
        target["thoughtSignature"] = signature
    return parts


def _user_part(part: Any, call_names: dict[str, str]) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"text": part.text} if part.text else None
    if isinstance(part, ToolResultPart):
        name = part.name or call_names.get(part.id)
        if not name:
            raise LLMError(
                "bad_request",
                f"tool result {part.id!r} has no name and answers no earlier tool call "
                "(Gemini matches results to calls by function name)",
                provider="gemini",
            )
        key = "error" if part.is_error else "result"
        return {"functionResponse": {"name": name, "response": {key: part.content}}}
    if isinstance(part, ImagePart):
        if part.data:
            return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
        if part.url:
            return {"fileData": {"mimeType": part.media_type, "fileUri": part.url}}
        return None
    return None  # thinking or tool calls in a user turn mean nothing to Gemini


def _declaration(tool: ToolSpec) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name, "description": tool.description}
    parameters = gemini_schema(tool.parameters)
    # Gemini rejects an OBJECT schema with no properties; a tool without arguments omits it.
    if parameters.get("properties"):
        declaration["parameters"] = parameters
    return declaration


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema rewritten into Gemini's dialect: refs inlined, unknown keys dropped."""
    return _clean(schema, schema.get("$defs") or schema.get("definitions") or {}, depth=0)


def _clean(node: Any, defs: dict[str, Any], depth: int) -> Any:
    if not isinstance(node, dict):
        return node
    if depth > 32:
        raise LLMError("bad_request", "tool schema nests too deeply (a recursive $ref?)")
    if "$ref" in node:
        target = defs.get(str(node["$ref"]).rsplit("/", 1)[-1])
        if target is None:
            raise LLMError("bad_request", f"tool schema refers to unknown {node['$ref']!r}")
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _clean(merged, defs, depth + 1)
    node = dict(node)
    if "const" in node and "enum" not in node:
        node["enum"] = [node["const"]]
    if isinstance(node.get("type"), list):  # ["string", "null"] -> string, nullable
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if types else "string"
    variants = node.get("anyOf")
    if isinstance(variants, list):
        non_null = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(non_null) < len(variants):
            node["nullable"] = True
        if len(non_null) == 1:  # Optional[X] -> X, nullable
            del node["anyOf"]
            inner = _clean(non_null[0], defs, depth + 1)
            node = {**inner, **{k: v for k, v in node.items() if k in ("description", "nullable")}}
        else:
            node["anyOf"] = non_null
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _clean(sub, defs, depth + 1) for name, sub in value.items()}
        elif key == "items":
            out[key] = _clean(value, defs, depth + 1)
        elif key == "anyOf":
            out[key] = [_clean(sub, defs, depth + 1) for sub in value]
        elif key == "enum":
            out[key] = [str(v) for v in value if v is not None]  # Gemini enums are strings
        else:
            out[key] = value
    if "enum" in out:
        out["type"] = "string"
    return out
