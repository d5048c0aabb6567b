"""Cached values: stored as JSON with their kind, so get() returns what set() was given."""
import json
import math

from ..errors import ConfigurationError
from ..response import USD, ChatResponse, ToolCall, Usage


def encode(response):
    """(kind, JSON text) of a response; `decode` gives back the same kind of value."""
    if response is None:
        raise ConfigurationError("Cannot cache None: get() returns None for a miss. Cache the answer itself.")
    if isinstance(response, ChatResponse):
        return "chat", json.dumps({
            "text": str(response), "model": response.model, "provider": response.provider,
            "source": getattr(response, "source", None), "finish_reason": response.finish_reason,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments, "raw_arguments": c.raw_arguments}
                           for c in response.tool_calls]}, ensure_ascii=False, default=str)
    if isinstance(response, str):
        return "text", json.dumps(str(response), ensure_ascii=False)
    try:
        return "json", json.dumps(response, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"Cannot cache a {type(response).__name__}: the response must be a string, a "
                                 f"ChatResponse, or JSON-able (dicts, lists, numbers, strings) ({exc}).") from None


def decode(kind, payload):
    if kind == "chat":
        calls = [ToolCall(c["id"], c["name"], c.get("arguments") or {}, c.get("raw_arguments") or "")
                 for c in payload.get("tool_calls") or []]
        return ChatResponse(payload["text"], tool_calls=calls, model=payload.get("model"),
                            provider=payload.get("provider"), finish_reason=payload.get("finish_reason"),
                            usage=Usage(), cost=USD(0.0), cached=True, source=payload.get("source"))
    return payload


def cost_of(response, cost, tokens):
    """What the response cost: given, or read from ChatResponses (the value or a dict's values)."""
    found = [response] if isinstance(response, ChatResponse) else \
        [v for v in response.values() if isinstance(v, ChatResponse)] if isinstance(response, dict) else []
    if cost is None:
        cost = sum(float(r.cost) for r in found if r.cost is not None and not math.isnan(r.cost))
    if tokens is None:
        tokens = sum(r.usage.total_tokens for r in found)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost < 0 or math.isnan(cost):
        raise ConfigurationError(f"cost must be a number of dollars >= 0; got {cost!r}.")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ConfigurationError(f"tokens must be a whole number >= 0; got {tokens!r}.")
    return float(cost), tokens
