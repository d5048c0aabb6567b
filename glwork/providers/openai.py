"""OpenAI Chat Completions, for api.openai.com and Azure OpenAI, through the official `openai` SDK
(imported when an adapter is built, so reading an adapter's class facts stays cheap)."""
from __future__ import annotations

import json
import re
from collections.abc import Generator
from typing import Any, ClassVar

from .. import errors
from ..response import Completion, ToolCall, Usage
from ..security import get_logger, register_secret
from .base import DEFAULT_TIMEOUT, ChatRequest, Progress, SDKAdapter, env_or, require_key, stream_cut

log = get_logger(__name__)
# Reasoning models take max_completion_tokens and only the default temperature.
_REASONING = re.compile(r"^(o\d|gpt-5)")
AZURE_API_VERSION = "2024-10-21"


class OpenAIAdapter(SDKAdapter):
    name = "openai"
    family = "openai"
    default_model = "gpt-4o-mini"
    key_env = "OPENAI_API_KEY"
    key_envs: ClassVar[tuple[str, ...]] = (key_env,)

    def __init__(self, api_key: str | None = None, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 default_headers: dict[str, str] | None = None, **_: Any):
        import openai as sdk
        self.sdk = sdk
        key = require_key(api_key, self.key_env, self.name)
        self.client = sdk.OpenAI(api_key=key, base_url=env_or(base_url, "OPENAI_BASE_URL"),
                                 timeout=timeout, max_retries=0, default_headers=default_headers)

    @classmethod
    def endpoint(cls, url: str, api_key: str) -> dict[str, str]:
        return {"base_url": url + "/v1", "api_key": api_key}   # the SDK appends paths after /v1

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
    def create(self, req: ChatRequest) -> Completion:
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

    def stream(self, req: ChatRequest, progress: Progress | None = None) -> Generator[str, None, Completion]:
        """Yield text deltas; return the finished `Completion` (generator return value). `progress`
        learns the usage and model as they arrive."""
        kw = self._kwargs(req)
        try:
            stream = self.client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
        except Exception as exc:
            raise self.error(exc) from None
        parts: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        usage, model, finish = None, req.model, None
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
    """Azure OpenAI: OpenAI's models, served from a resource's deployments; the model sent names the
    deployment."""

    name = "azure"
    family = "openai"
    key_env = "AZURE_OPENAI_API_KEY"
    key_envs = (key_env, "AZURE_OPENAI_AD_TOKEN")
    deployment_env = "AZURE_OPENAI_DEPLOYMENT"

    def __init__(self, api_key: str | None = None, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 azure_endpoint: str | None = None, api_version: str | None = None,
                 azure_ad_token: str | None = None, default_headers: dict[str, str] | None = None, **_: Any):
        import openai as sdk
        self.sdk = sdk
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

    @classmethod
    def endpoint(cls, url: str, api_key: str) -> dict[str, str]:
        return {"azure_endpoint": url, "api_key": api_key}   # the SDK builds /openai/deployments/... itself

    @classmethod
    def resolve_model(cls, model: str | None = None, azure_deployment: str | None = None, **_: Any) -> str:
        """The deployment: `azure_deployment`, else `model`, else AZURE_OPENAI_DEPLOYMENT, else the default."""
        return azure_deployment or model or env_or(None, cls.deployment_env) or cls.default_model


def _tool_call(call_id: str | None, name: str, raw: str | None) -> ToolCall:
    raw = raw or "{}"
    try:
        args = json.loads(raw)
    except json.JSONDecodeError:
        log.warning("tool call %s: arguments are not valid JSON; kept in raw_arguments", name)
        args = {}
    return ToolCall(call_id or "", name, args if isinstance(args, dict) else {"value": args}, raw)


def _usage(u: Any) -> Usage:
    if u is None:
        return Usage()
    details = getattr(u, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", 0) or 0) if details else 0
    return Usage(u.prompt_tokens or 0, u.completion_tokens or 0, cached)
