"""What a call returns: `ChatResponse`, a `str` carrying the reply's metadata."""
from dataclasses import asdict, dataclass, field


class USD(float):
    """A dollar amount that prints as $-style decimals (0.000840), never as 8.4e-04."""

    def __repr__(self):
        return "nan" if self != self else f"{float(self):.6f}"

    __str__ = __repr__


@dataclass
class Usage:
    """Token counts of one call. `input_tokens` includes cached prompt tokens."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0          # prompt tokens read from the provider's prompt cache
    cache_creation_tokens: int = 0  # Anthropic: prompt tokens written to its cache

    @property
    def total_tokens(self):
        return self.input_tokens + self.output_tokens

    def __add__(self, other):
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
                     self.cached_tokens + other.cached_tokens,
                     self.cache_creation_tokens + other.cache_creation_tokens)

    def to_dict(self):
        d = asdict(self)
        d["total_tokens"] = self.total_tokens
        return d


@dataclass
class ToolCall:
    """One function/tool call the model asked for; `arguments` is already a dict."""

    id: str
    name: str
    arguments: dict = field(default_factory=dict)
    raw_arguments: str = ""

    def to_dict(self):
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass
class Completion:
    """A provider adapter's neutral result, before the session dresses it as a ChatResponse."""

    text: str
    tool_calls: list
    usage: Usage
    model: str
    finish_reason: str | None   # None: the provider did not say (a stream cut before its end)
    request_id: str | None = None
    source: str | None = None   # "recorded" | "local" | "live"; None: the session derives it from the route's mode
    latency_ms: float | None = None   # a replayed call's recorded latency (its replay takes milliseconds)


SOURCES = ("recorded", "local", "live")


def source_label(source, provider, model, cached=False):
    """Where a reply came from, in a few words for a footer or a table. `cached`: a semantic-cache
    hit repeats an earlier reply, so it says where that one came from, never "answered now"."""
    first = "from the semantic cache; first " if cached else ""
    if source == "recorded":
        return f"{first}replayed from the recording ({provider} / {model})"
    if source == "local":
        return f"{first}answered {'' if cached else 'now '}by the local model {model} (not {provider})"
    if source == "live":
        return f"{first}live from {provider} / {model}"
    return f"{first}{provider} / {model}"


class ChatResponse(str):
    """The reply text (so `print(response)` and `json.loads(response)` work) plus metadata.

    `source` says where the text came from: "recorded" (a cassette), "local" (the embedded local
    model, `model` names it) or "live" (the provider). A semantic-cache hit (`cached=True`) keeps
    the source of the reply it repeats."""

    def __new__(cls, text, **meta):
        obj = super().__new__(cls, text or "")
        obj.tool_calls = meta.get("tool_calls") or []
        obj.usage = meta.get("usage") or Usage()
        obj.model = meta.get("model")
        obj.provider = meta.get("provider")
        obj.latency_ms = meta.get("latency_ms")
        obj.finish_reason = meta.get("finish_reason")
        obj.cost = meta.get("cost")
        obj.cost_is_estimate = meta.get("cost_is_estimate", False)
        obj.cached = meta.get("cached", False)
        obj.request_id = meta.get("request_id")
        obj.fallback_used = meta.get("fallback_used", False)
        obj.attempts = meta.get("attempts", 1)
        obj.source = meta.get("source")
        return obj

    @property
    def text(self):
        return str(self)

    @property
    def function_call(self):
        """The first tool call (the workshop's `response.function_call`), or None."""
        return self.tool_calls[0] if self.tool_calls else None

    def __repr__(self):
        calls = f", tool_calls={[c.name for c in self.tool_calls]}" if self.tool_calls else ""
        return (f"ChatResponse({str(self)!r}, provider={self.provider!r}, model={self.model!r}, "
                f"source={self.source!r}, tokens={self.usage.total_tokens}{calls})")

    def __reduce__(self):
        meta = {k: getattr(self, k) for k in ("tool_calls", "usage", "model", "provider", "latency_ms",
                                               "finish_reason", "cost", "cost_is_estimate", "cached",
                                               "request_id", "fallback_used", "attempts", "source")}
        return (_rebuild, (str(self), meta))


def _rebuild(text, meta):
    return ChatResponse(text, **meta)
