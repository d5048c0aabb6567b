"""ChatSession: one interface over OpenAI, Anthropic and Azure OpenAI (workshop Part 1)."""
import json
import math
import threading
import time
from dataclasses import dataclass, field

from . import config, errors, events, offline
from .monitoring import pricing
from .providers import check_provider, default_model, make_adapter
from .providers.base import ChatRequest, DEFAULT_TIMEOUT
from .response import USD, ChatResponse, Usage
from .security import get_logger
from .tokens import estimate_messages
from .tools import normalize_tools

log = get_logger(__name__)
_NOT_RUN = json.dumps({"error": "the caller did not run this tool call"})


@dataclass
class CallRecord:
    """One finished call, as the session's accounting and the monitors see it."""

    provider: str
    model: str
    requested_model: str
    usage: Usage
    cost: float            # None when the model has no known price
    cost_is_estimate: bool
    latency_ms: float
    streamed: bool = False
    cached: bool = False
    time: float = field(default_factory=time.time)


class ChatSession:
    """A conversation with one provider and model, with history, tools, JSON mode and accounting.

    Arguments follow the workshop text: `provider` ("openai", "anthropic", "azure"), `model`
    (for Azure: the deployment name), `system_message`, `temperature`, `max_tokens`, `functions`
    (a list of JSON-schema function definitions), `response_format` ({"type": "json_object"}).
    Also: `tools` (OpenAI- or Anthropic-style tool definitions), `tool_choice`, `timeout` (seconds),
    `base_url`/`api_key` overrides, and for Azure `azure_endpoint`, `api_version`, `azure_deployment`.
    `mode` ("live", "replay", "record", "local") overrides the kit's mode for this session only,
    e.g. mode="local" sends free-form questions to the local model inside a replayed notebook.
    Without arguments the SDKs' own environment variables are used (OPENAI_API_KEY, OPENAI_BASE_URL,
    ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT,
    OPENAI_API_VERSION, AZURE_OPENAI_DEPLOYMENT).
    """

    def __init__(self, provider="openai", model=None, system_message=None, temperature=None,
                 max_tokens=None, functions=None, response_format=None, tools=None, tool_choice=None,
                 timeout=DEFAULT_TIMEOUT, base_url=None, api_key=None, azure_endpoint=None,
                 api_version=None, azure_deployment=None, mode=None):
        self.provider = check_provider(provider)
        if self.provider == "azure":
            from .providers.base import env_or
            model = azure_deployment or model or env_or(None, "AZURE_OPENAI_DEPLOYMENT")
        self.model = model or default_model(self.provider)
        if system_message is not None and not isinstance(system_message, str):
            raise errors.ConfigurationError("system_message must be a string.")
        if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
            raise errors.ConfigurationError(f"temperature must be a number from 0 to 2, got {temperature!r}.")
        if max_tokens is not None and not (isinstance(max_tokens, int) and max_tokens > 0):
            raise errors.ConfigurationError(f"max_tokens must be a positive integer, got {max_tokens!r}.")
        if response_format is not None and not (isinstance(response_format, dict) and "type" in response_format):
            raise errors.ConfigurationError('response_format must be a dict such as {"type": "json_object"}.')
        self.system_message = system_message
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.tools = normalize_tools(functions, tools)
        self.tool_choice = tool_choice
        self.response_format = response_format
        self.json_mode = bool(response_format and response_format.get("type") in ("json_object", "json_schema"))
        self.timeout = timeout
        self.mode = config._check(mode) or config.current_mode(self.provider)
        endpoint = offline.connection(self.provider, self.mode, base_url=base_url, api_key=api_key,
                                      azure_endpoint=azure_endpoint)
        self._adapter = make_adapter(self.provider, timeout=timeout, api_version=api_version, **endpoint)
        self._history = []          # neutral user/assistant/tool turns, no system message
        self._calls = []            # CallRecord per finished call
        self._lock = threading.RLock()
        self._closed = False

    def __repr__(self):
        return (f"ChatSession(provider={self.provider!r}, model={self.model!r}, turns={len(self._history)}, "
                f"tokens={self.get_token_count()})")

    # ---- conversation ------------------------------------------------------------------------------
    def send_message(self, message):
        """Send `message` and return the reply as a `ChatResponse` (a str with metadata)."""
        turns = self._new_turns(message)
        completion, latency = self._complete(turns)
        return self._commit(turns, completion, latency, streamed=False)

    def stream_message(self, message):
        """Yield the reply's text chunks as they arrive; history and accounting update at the end.

        A stream broken mid-way raises `LLMError` (error_code "stream_interrupted") and adds nothing
        to the history.
        """
        turns = self._new_turns(message)
        request = self._request(turns)
        start = time.perf_counter()
        completion = yield from self._adapter.stream(request)
        self._commit(turns, completion, (time.perf_counter() - start) * 1000, streamed=True)

    def send_tool_result(self, result, tool_call_id=None):
        """Give the model a tool's result (any JSON-able value) and return its next reply."""
        pending = self._pending_tool_calls()
        if not pending:
            raise errors.ConfigurationError("There is no tool call waiting for a result.")
        if tool_call_id is None:
            if len(pending) > 1:
                raise errors.ConfigurationError(
                    f"{len(pending)} tool calls are waiting; pass tool_call_id= one of "
                    f"{[c.id for c in pending]}.")
            tool_call_id = pending[0].id
        call = next((c for c in pending if c.id == tool_call_id), None)
        if call is None:
            raise errors.ConfigurationError(f"No pending tool call with id {tool_call_id!r}.")
        content = result if isinstance(result, str) else json.dumps(result, default=str)
        turns = [{"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content}]
        if len(pending) > 1:  # answer only one now; the others stay pending
            with self._lock:
                self._history += turns
            return None
        completion, latency = self._complete(turns)
        return self._commit(turns, completion, latency, streamed=False)

    def get_conversation_history(self):
        """The conversation as a list of {"role", "content"} dicts, system message first."""
        out = [{"role": "system", "content": self.system_message}] if self.system_message else []
        for m in self._history:
            item = {"role": m["role"], "content": m.get("content") or ""}
            if m.get("tool_calls"):
                item["tool_calls"] = [c.to_dict() for c in m["tool_calls"]]
            if m["role"] == "tool":
                item["tool_call_id"] = m["tool_call_id"]
            out.append(item)
        return out

    def reset(self):
        """Forget the conversation (the system message stays; cost and token totals are kept)."""
        with self._lock:
            self._history = []

    # ---- accounting --------------------------------------------------------------------------------
    def get_token_count(self):
        """Total tokens (input + output) used by this session."""
        return sum(c.usage.total_tokens for c in self._calls)

    def get_token_stats(self):
        total = sum((c.usage for c in self._calls), Usage())
        return {"input_tokens": total.input_tokens, "output_tokens": total.output_tokens,
                "total_tokens": total.total_tokens, "cached_tokens": total.cached_tokens,
                "calls": len(self._calls)}

    def get_cost(self):
        """USD spent by this session; NaN (with one warning) if a call's model has no known price."""
        costs = [c.cost for c in self._calls]
        if any(c is None for c in costs):
            return USD(math.nan)
        return USD(round(sum(costs), 8))

    def get_response_time(self):
        """Latency of the last call in milliseconds (None before the first call)."""
        return round(self._calls[-1].latency_ms, 1) if self._calls else None

    def get_calls(self):
        """Every finished call of this session as `CallRecord`s (for tables and charts)."""
        return list(self._calls)

    def estimate_tokens(self, message=""):
        """Estimated prompt tokens if `message` were sent now (offline, no tokenizer download)."""
        turns = self._history + ([{"role": "user", "content": message}] if message else [])
        return estimate_messages(turns, self.system_message, self.tools)

    # ---- lifecycle ---------------------------------------------------------------------------------
    def close(self):
        if not self._closed:
            self._closed = True
            self._adapter.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- internals ---------------------------------------------------------------------------------
    def _new_turns(self, message):
        if self._closed:
            raise errors.ConfigurationError("This ChatSession is closed; create a new one.")
        if not isinstance(message, str):
            raise errors.ConfigurationError(f"message must be a string, got {type(message).__name__}.")
        if not message.strip():
            raise errors.ConfigurationError("message is empty: type a question or instruction to send.")
        # A tool call left unanswered would make the next request invalid; say so in the history.
        turns = [{"role": "tool", "tool_call_id": c.id, "name": c.name, "content": _NOT_RUN}
                 for c in self._pending_tool_calls()]
        return turns + [{"role": "user", "content": message}]

    def _pending_tool_calls(self):
        answered = {m["tool_call_id"] for m in self._history if m["role"] == "tool"}
        for m in reversed(self._history):
            if m["role"] == "assistant":
                return [c for c in m.get("tool_calls") or [] if c.id not in answered]
        return []

    def _request(self, turns):
        return ChatRequest(model=self.model, messages=self._history + turns, system=self.system_message,
                           temperature=self.temperature, max_tokens=self.max_tokens, tools=self.tools,
                           tool_choice=self.tool_choice, json_mode=self.json_mode,
                           response_format=self.response_format)

    def _complete(self, turns):
        request = self._request(turns)
        start = time.perf_counter()
        completion = self._adapter.create(request)
        return completion, (time.perf_counter() - start) * 1000

    def _commit(self, turns, completion, latency_ms, streamed):
        if self.json_mode and not completion.tool_calls:
            try:
                json.loads(completion.text)
            except json.JSONDecodeError as exc:
                raise errors.InvalidJSONError(
                    f"JSON mode was requested but the reply is not valid JSON ({exc.msg} at position {exc.pos}); "
                    f"it was not added to the history. Reply started: {completion.text[:80]!r}",
                    provider=self.provider) from None
        cost, estimate = self._price(completion)
        cost = None if cost is None else USD(cost)
        record = CallRecord(self.provider, completion.model, self.model, completion.usage, cost, estimate,
                            latency_ms, streamed)
        with self._lock:
            self._history += turns + [{"role": "assistant", "content": completion.text,
                                       "tool_calls": completion.tool_calls}]
            self._calls.append(record)
        events.emit("llm_call", record=record, session=id(self), status="ok")
        return ChatResponse(completion.text, tool_calls=completion.tool_calls, usage=completion.usage,
                            model=completion.model, provider=self.provider, latency_ms=round(latency_ms, 1),
                            finish_reason=completion.finish_reason, cost=cost, cost_is_estimate=estimate,
                            request_id=completion.request_id)

    def _price(self, completion):
        """Cost at the answering model's price, else at the requested model's (flagged as estimate)."""
        if pricing.lookup(completion.model):
            return pricing.cost_of(completion.usage, completion.model), False
        if completion.model != self.model and pricing.lookup(self.model):
            return pricing.cost_of(completion.usage, self.model), True
        return pricing.cost_of(completion.usage, completion.model or self.model), False
