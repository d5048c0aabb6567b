"""Anthropic Messages, through the official `anthropic` SDK (imported when an adapter is built)."""
from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from ..response import Completion, ToolCall, Usage
from .base import DEFAULT_TIMEOUT, ChatRequest, Progress, SDKAdapter, env_or, require_key, stream_cut

DEFAULT_MAX_TOKENS = 1024  # Messages requires max_tokens; the session passes the user's when set
JSON_INSTRUCTION = ("Respond with one valid JSON object and nothing else: no prose, no code fences.")
# Normalised so notebooks compare providers with one vocabulary (OpenAI's).
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "refusal": "refusal", "pause_turn": "stop"}


class AnthropicAdapter(SDKAdapter):
    name = "anthropic"
    family = "anthropic"
    default_model = "claude-3-5-haiku-latest"
    key_env = "ANTHROPIC_API_KEY"
    key_envs = (key_env,)
    default_max_tokens = DEFAULT_MAX_TOKENS   # sent when the request names none (Messages requires it)

    def __init__(self, api_key: str | None = None, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 default_headers: dict[str, str] | None = None, **_: Any):
        import anthropic as sdk
        self.sdk = sdk
        key = require_key(api_key, self.key_env, self.name)
        self.client = sdk.Anthropic(api_key=key, base_url=env_or(base_url, "ANTHROPIC_BASE_URL"),
                                    timeout=timeout, max_retries=0, default_headers=default_headers)

    def _kwargs(self, req):
        system = req.system
        messages = _merge_roles([_message(m) for m in req.messages])
        schema = _schema_tool(req)
        if req.json_mode and not schema:
            # No JSON mode in Messages: instruct, and prefill the reply with "{" so it starts as JSON.
            system = f"{system}\n\n{JSON_INSTRUCTION}" if system else JSON_INSTRUCTION
            messages.append({"role": "assistant", "content": "{"})
        kw = {"model": req.model, "messages": messages, "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS}
        if system:
            kw["system"] = system
        if req.temperature is not None:
            # SDK 1.x+ dropped the keyword; the API still takes it on models with sampling options.
            kw["extra_body"] = {"temperature": min(max(req.temperature, 0.0), 1.0)}  # range 0-1
        if schema:
            # Messages has no json_schema: Anthropic's own way is a tool whose input_schema is the schema,
            # forced, so the model can only answer with input that matches it (its input is the reply).
            kw["tools"], kw["tool_choice"] = [schema], {"type": "tool", "name": schema["name"]}
        elif req.tools:
            kw["tools"] = [{"name": t["name"], "description": t.get("description") or "",
                            "input_schema": t.get("parameters") or {"type": "object", "properties": {}}}
                           for t in req.tools]
            choice = req.tool_choice
            if choice in ("auto", "required", "none"):
                kw["tool_choice"] = {"type": {"required": "any"}.get(choice, choice)}
            elif choice:
                kw["tool_choice"] = {"type": "tool", "name": choice}
        return kw

    def create(self, req: ChatRequest) -> Completion:
        try:
            resp = self.client.messages.create(**self._kwargs(req))
        except Exception as exc:
            raise self.error(exc) from None
        text = "".join(b.text for b in resp.content if b.type == "text")
        calls = [ToolCall(b.id, b.name, dict(b.input or {}), json.dumps(b.input or {}))
                 for b in resp.content if b.type == "tool_use"]
        if _schema_tool(req):   # the forced tool's input is the JSON reply, not a call for the caller to run
            text = calls[0].raw_arguments if calls else text
            return Completion(text, [], _usage(resp.usage), resp.model, "stop", getattr(resp, "_request_id", None))
        if req.json_mode:
            text = "{" + text
        return Completion(text, calls, _usage(resp.usage), resp.model, _FINISH.get(resp.stop_reason, resp.stop_reason),
                          getattr(resp, "_request_id", None))

    def stream(self, req: ChatRequest, progress: Progress | None = None) -> Generator[str, None, Completion]:
        """Yield text deltas; return the finished `Completion` (generator return value). `progress`
        learns the usage (the prompt's arrives first) and model as they arrive."""
        try:
            stream = self.client.messages.create(stream=True, **self._kwargs(req))
        except Exception as exc:
            raise self.error(exc) from None
        parts, blocks, usage, model, finish, done = [], {}, Usage(), req.model, None, False
        schema = _schema_tool(req) is not None
        prefix = "{" if req.json_mode and not schema else ""  # the prefill; sent with the first real delta
        try:
            for ev in stream:
                if ev.type == "message_start":
                    model = ev.message.model or model
                    usage = _usage(ev.message.usage)
                    if progress is not None:
                        progress.model, progress.usage = model, usage
                elif ev.type == "content_block_start" and ev.content_block.type == "tool_use":
                    blocks[ev.index] = {"id": ev.content_block.id, "name": ev.content_block.name, "json": []}
                elif ev.type == "content_block_delta":
                    if ev.delta.type == "text_delta" and ev.delta.text:
                        piece, prefix = prefix + ev.delta.text, ""
                        parts.append(piece)
                        yield piece
                    elif ev.delta.type == "input_json_delta":
                        blocks[ev.index]["json"].append(ev.delta.partial_json)
                        if schema and ev.delta.partial_json:   # the schema tool's input is the reply: stream it
                            parts.append(ev.delta.partial_json)
                            yield ev.delta.partial_json
                elif ev.type == "message_delta":
                    finish = ev.delta.stop_reason or finish
                    if ev.usage and ev.usage.output_tokens is not None:
                        usage.output_tokens = ev.usage.output_tokens
                elif ev.type == "message_stop":
                    done = True
        except Exception as exc:
            raise self.error(exc, mid_stream=True) from None
        finally:
            stream.close()
        if not done:
            raise stream_cut(self.name)
        if schema:
            return Completion("".join(parts) or "{}", [], usage, model, "stop")
        calls = []
        for _, b in sorted(blocks.items()):
            raw = "".join(b["json"]) or "{}"
            calls.append(ToolCall(b["id"], b["name"], json.loads(raw), raw))
        return Completion(prefix + "".join(parts), calls, usage, model, _FINISH.get(finish or "", finish))


def _schema_tool(req):
    """The tool that stands for an OpenAI-style json_schema response_format, or None."""
    fmt = req.response_format or {}
    if fmt.get("type") != "json_schema" or req.tools:
        return None
    spec = fmt.get("json_schema") or {}
    return {"name": spec.get("name") or "record", "description": spec.get("description") or
            "Give the answer as this tool's input.", "input_schema": spec.get("schema") or {"type": "object"}}


def _message(m):
    if m["role"] == "tool":
        return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": m["tool_call_id"],
                                             "content": m["content"]}]}
    if m["role"] == "assistant" and m.get("tool_calls"):
        blocks = [{"type": "text", "text": m["content"]}] if m.get("content") else []
        blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in m["tool_calls"]]
        return {"role": "assistant", "content": blocks}
    return {"role": m["role"], "content": m.get("content") or ""}


def _merge_roles(messages):
    """Messages alternates user/assistant: merge consecutive turns of one role into content blocks."""
    out = []
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            prev = out[-1]
            prev["content"] = _blocks(prev["content"]) + _blocks(m["content"])
        else:
            out.append(dict(m))
    return out


def _blocks(content):
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _usage(u: Any) -> Usage:
    if u is None:
        return Usage()
    read = getattr(u, "cache_read_input_tokens", 0) or 0
    write = getattr(u, "cache_creation_input_tokens", 0) or 0
    return Usage((u.input_tokens or 0) + read + write, u.output_tokens or 0, read, write)
