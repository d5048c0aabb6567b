"""OpenAI Chat Completions, for api.openai.com and Azure OpenAI, through the official `openai` SDK."""
import json
import re

import openai as sdk

from .. import errors
from ..response import Completion, ToolCall, Usage
from ..security import get_logger, register_secret
from .base import DEFAULT_TIMEOUT, SDKAdapter, env_or, require_key, stream_cut

log = get_logger(__name__)
# Reasoning models take max_completion_tokens and only the default temperature.
_REASONING = re.compile(r"^(o\d|gpt-5)")
AZURE_API_VERSION = "2024-10-21"


class OpenAIAdapter(SDKAdapter):
    sdk = sdk
    name = "openai"
    key_env = "OPENAI_API_KEY"

    def __init__(self, api_key=None, base_url=None, timeout=DEFAULT_TIMEOUT, default_headers=None, **_):
        key = require_key(api_key, self.key_env, self.name)
        self.client = sdk.OpenAI(api_key=key, base_url=env_or(base_url, "OPENAI_BASE_URL"),
                                 timeout=timeout, max_retries=0, default_headers=default_headers)

    # ---- request -------------------------------------------------------------------------------
    def _kwargs(self, req):
        msgs = ([{"role": "system", "content": req.system}] if req.system else []) + \
            [self._message(m) for m in req.messages]
        kw = {"model": req.model, "messages": msgs}
        reasoning = bool(_REASONING.match(req.model or "")) and self.name == "openai"
        if req.temperature is not None and not reasoning:
            kw["temperature"] = req.temperature
        if req.max_tokens is not None:
            kw["max_completion_tokens" if reasoning else "max_tokens"] = req.max_tokens
        if req.seed is not None:
            kw["seed"] = req.seed
        if req.tools:
            kw["tools"] = [{"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters")
                                                             if t.get(k) is not None}} for t in req.tools]
            if req.tool_choice:
                kw["tool_choice"] = (req.tool_choice if req.tool_choice in ("auto", "none", "required")
                                     else {"type": "function", "function": {"name": req.tool_choice}})
        if req.response_format:
            kw["response_format"] = req.response_format
        return kw

    @staticmethod
    def _message(m):
        if m["role"] == "tool":
            return {"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]}
        out = {"role": m["role"], "content": m.get("content")}
        if m.get("tool_calls"):
            out["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": c.raw_arguments or json.dumps(c.arguments)}}
                                 for c in m["tool_calls"]]
        return out

    # ---- calls -----------------------------------------------------------------------------------
    def create(self, req):
        try:
            resp = self.client.chat.completions.create(**self._kwargs(req))
        except Exception as exc:
            raise self.error(exc) from None
        if not resp.choices:
            raise errors.ServerError(f"{self.name} returned no choices", provider=self.name)
        choice = resp.choices[0]
        msg = choice.message
        calls = [_tool_call(c.id, c.function.name, c.function.arguments) for c in (msg.tool_calls or [])
                 if getattr(c, "function", None)]
        if not calls and getattr(msg, "function_call", None):  # legacy `functions` reply
            calls = [_tool_call("call_0", msg.function_call.name, msg.function_call.arguments)]
        text = msg.content
        finish = choice.finish_reason
        if text is None and getattr(msg, "refusal", None):
            text, finish = msg.refusal, "refusal"
        return Completion(text or "", calls, _usage(resp.usage), resp.model, finish, getattr(resp, "_request_id", None))

    def stream(self, req, progress=None):
        """Yield text deltas; return the finished `Completion` (generator return value). `progress`
        (a base.Progress) learns the usage and model as they arrive."""
        kw = self._kwargs(req)
        try:
            stream = self.client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
        except Exception as exc:
            raise self.error(exc) from None
        parts, calls, usage, model, finish = [], {}, None, req.model, None
        try:
            for chunk in stream:
                model = chunk.model or model
                if chunk.usage:
                    usage = _usage(chunk.usage)
                if progress is not None:
                    progress.model, progress.usage = model, usage
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta and delta.content:
                        parts.append(delta.content)
                        yield delta.content
                    for tc in (delta.tool_calls or []) if delta else []:
                        slot = calls.setdefault(tc.index, {"id": None, "name": "", "args": []})
                        slot["id"] = tc.id or slot["id"]
                        if tc.function:
                            slot["name"] += tc.function.name or ""
                            slot["args"].append(tc.function.arguments or "")
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except Exception as exc:
            raise self.error(exc, mid_stream=True) from None
        finally:
            stream.close()
        if finish is None:
            raise stream_cut(self.name)
        tool_calls = [_tool_call(s["id"], s["name"], "".join(s["args"])) for _, s in sorted(calls.items())]
        return Completion("".join(parts), tool_calls, usage or Usage(), model, finish)


class AzureOpenAIAdapter(OpenAIAdapter):
    """Azure OpenAI: the model argument names the deployment."""

    name = "azure"
    key_env = "AZURE_OPENAI_API_KEY"

    def __init__(self, api_key=None, base_url=None, timeout=DEFAULT_TIMEOUT, azure_endpoint=None,
                 api_version=None, azure_ad_token=None, default_headers=None, **_):
        endpoint = base_url or env_or(azure_endpoint, "AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise errors.ConfigurationError(
                "No Azure OpenAI endpoint: set AZURE_OPENAI_ENDPOINT (https://<resource>.openai.azure.com) "
                "or pass azure_endpoint=...", provider=self.name)
        token = env_or(azure_ad_token, "AZURE_OPENAI_AD_TOKEN")
        key = None if token else require_key(api_key, self.key_env, self.name)
        register_secret(token)
        self.client = sdk.AzureOpenAI(api_key=key, azure_ad_token=token, azure_endpoint=endpoint,
                                      api_version=env_or(api_version, "OPENAI_API_VERSION") or AZURE_API_VERSION,
                                      timeout=timeout, max_retries=0, default_headers=default_headers)


def _tool_call(call_id, name, raw):
    raw = raw or "{}"
    try:
        args = json.loads(raw)
    except json.JSONDecodeError:
        log.warning("tool call %s: arguments are not valid JSON; kept in raw_arguments", name)
        args = {}
    return ToolCall(call_id, name, args if isinstance(args, dict) else {"value": args}, raw)


def _usage(u):
    if u is None:
        return Usage()
    details = getattr(u, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", 0) or 0) if details else 0
    return Usage(u.prompt_tokens or 0, u.completion_tokens or 0, cached)
