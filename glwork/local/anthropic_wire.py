"""Anthropic Messages wire format: request parsing, JSON reply and the SSE event sequence.

Event order follows the recording tests/fixtures/wire/anthropic/messages_stream_text.yaml: message_start,
content_block_start, ping, content_block_delta..., content_block_stop, message_delta,
message_stop. Tool use streams a `tool_use` block with `input_json_delta` pieces.
"""
import json

from .generation import GenRequest
from .wire import Reply, Stream, WireError, final_result, primed, rand_id, sse

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _bad(message):
    return WireError(400, message, "invalid_request_error")


def _block_text(content, where):
    """Text of a string or of a list of text blocks (tool_result content, system)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        out = []
        for i, b in enumerate(content):
            if not isinstance(b, dict) or b.get("type") != "text":
                kind = b.get("type") if isinstance(b, dict) else type(b).__name__
                raise _bad(f"{where}.{i}: the local model accepts only text blocks here, "
                           f"not {kind!r}")
            out.append(b.get("text", ""))
        return "\n".join(out)
    raise _bad(f"{where}: Input should be a valid string or list of blocks")


def _messages(raw):
    if not isinstance(raw, list) or not raw:
        raise _bad("messages: Field required" if raw is None else
                   "messages: Input should be a non-empty list")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise _bad(f"messages.{i}: Input does not match the expected shape.")
        content = m.get("content")
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
            continue
        if not isinstance(content, list):
            raise _bad(f"messages.{i}.content: Input should be a valid string or list")
        texts, calls, results = [], [], []
        for j, b in enumerate(content):
            kind = b.get("type") if isinstance(b, dict) else None
            if kind == "text":
                texts.append(b.get("text", ""))
            elif kind == "tool_use" and m["role"] == "assistant":
                calls.append({"id": b.get("id"), "name": b.get("name"),
                              "arguments": b.get("input") or {}})
            elif kind == "tool_result" and m["role"] == "user":
                text = _block_text(b.get("content"), f"messages.{i}.content.{j}.content")
                if b.get("is_error"):
                    text = "Error: " + text
                results.append({"role": "tool", "content": text,
                                "tool_call_id": b.get("tool_use_id")})
            elif kind in ("thinking", "redacted_thinking"):
                continue
            else:
                raise _bad(f"messages.{i}.content.{j}: the local model cannot take a "
                           f"{kind!r} block")
        out.extend(results)   # results answer the previous assistant turn, so they come first
        if texts or calls or not results:
            msg = {"role": m["role"], "content": "\n".join(texts)}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
    return out


def _tools(body):
    tools = []
    for i, t in enumerate(body.get("tools") or []):
        if not isinstance(t, dict) or not t.get("name"):
            raise _bad(f"tools.{i}.name: Field required")
        if t.get("type") not in (None, "custom"):
            raise _bad(f"tools.{i}: server tool {t['type']!r} is not available on the local "
                       "backend")
        tools.append({"name": t["name"], "description": t.get("description", ""),
                      "parameters": t.get("input_schema") or {"type": "object", "properties": {}}})
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        if choice.get("name") not in {t["name"] for t in tools}:
            raise _bad(f"tool_choice.name: no tool named {choice.get('name')!r} in tools")
        return tools, {"name": choice["name"]}
    mapping = {"auto": "auto", "any": "required", "none": "none"}
    if kind not in mapping:
        raise _bad("tool_choice: Input tag does not match any of the expected tags: 'auto', "
                   "'any', 'tool', 'none'")
    return tools, mapping[kind]


def parse(body):
    """An Anthropic Messages request body -> GenRequest."""
    for name in ("model", "max_tokens", "messages"):
        if body.get(name) is None:
            raise _bad(f"{name}: Field required")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _bad("max_tokens: Input should be a valid integer greater than or equal to 1")
    temperature = body.get("temperature")
    if temperature is not None and not (isinstance(temperature, (int, float))
                                        and 0 <= temperature <= 1):
        raise _bad("temperature: Input should be less than or equal to 1")
    messages = _messages(body["messages"])
    system = _block_text(body.get("system"), "system")
    if system:
        messages.insert(0, {"role": "system", "content": system})
    prefill = ""
    last = messages[-1]
    if last["role"] == "assistant" and not last.get("tool_calls"):
        prefill = messages.pop()["content"]    # the reply continues this text
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
    tools, choice = _tools(body)
    return GenRequest(messages=messages, tools=tools, tool_choice=choice,
                      json_schema=fmt.get("schema") if fmt.get("type") == "json_schema" else None,
                      max_tokens=max_tokens, temperature=temperature, top_p=body.get("top_p"),
                      stop=body.get("stop_sequences"), prefill=prefill)


def _usage(input_tokens, output_tokens):
    return {"input_tokens": input_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens, "service_tier": "standard"}


def _blocks(result):
    blocks = []
    if result.text or not result.tool_calls:
        blocks.append({"type": "text", "text": result.text})
    for c in result.tool_calls:
        blocks.append({"type": "tool_use", "id": rand_id("toolu_01", 22), "name": c["name"],
                       "input": c["arguments"]})
    return blocks


def message(result, model):
    return {"model": model, "id": rand_id("msg_01", 22), "type": "message", "role": "assistant",
            "content": _blocks(result), "stop_reason": STOP_REASONS[result.finish_reason],
            "stop_sequence": None,
            "usage": _usage(result.prompt_tokens, result.completion_tokens)}


def stream(events, model):
    index = 0
    prompt_tokens = None
    text_open = False

    def block_start(block):
        out = [sse({"type": "content_block_start", "index": index, "content_block": block},
                   "content_block_start")]
        if index == 0:
            out.append(sse({"type": "ping"}, "ping"))
        return out

    def delta(d):
        return sse({"type": "content_block_delta", "index": index, "delta": d},
                   "content_block_delta")

    def block_stop():
        return sse({"type": "content_block_stop", "index": index}, "content_block_stop")

    try:
        for kind, value in events:
            if kind == "start":
                if prompt_tokens is None:   # message_start waits for the prompt's token count
                    prompt_tokens = value
                    start = {"model": model, "id": rand_id("msg_01", 22), "type": "message",
                             "role": "assistant", "content": [], "stop_reason": None,
                             "stop_sequence": None,
                             "usage": _usage(prompt_tokens, 1)}   # the API also says 1 here
                    yield sse({"type": "message_start", "message": start}, "message_start")
                continue
            if kind == "text":
                if not text_open:
                    text_open = True
                    yield from block_start({"type": "text", "text": ""})
                yield delta({"type": "text_delta", "text": value})
                continue
            result = value
            if not text_open and (result.text or not result.tool_calls):
                text_open = True
                yield from block_start({"type": "text", "text": ""})
                if result.text:
                    yield delta({"type": "text_delta", "text": result.text})
            if text_open:
                yield block_stop()
                index += 1
            for block in _blocks(result):
                if block["type"] != "tool_use":
                    continue
                args = json.dumps(block.pop("input"))
                yield from block_start({**block, "input": {}})
                for j in range(0, len(args), 12):
                    yield delta({"type": "input_json_delta", "partial_json": args[j:j + 12]})
                yield block_stop()
                index += 1
            usage = _usage(prompt_tokens, result.completion_tokens)
            del usage["cache_creation"], usage["service_tier"]   # as in the recorded stream
            yield sse({"type": "message_delta", "delta": {"stop_reason": STOP_REASONS[
                result.finish_reason], "stop_sequence": None}, "usage": usage}, "message_delta")
            yield sse({"type": "message_stop"}, "message_stop")
    finally:
        events.close()


def messages(call):
    req = parse(call.body)
    engine = call.engine
    if call.body.get("stream"):
        events = primed(engine.chat(req))
        return Stream(stream(events, engine.model), events)
    events = engine.chat(req)
    result = final_result(events)
    return Reply(200, message(result, engine.model))


def count_tokens(call):
    body = {**call.body, "max_tokens": call.body.get("max_tokens") or 1}
    return Reply(200, {"input_tokens": call.engine.prompt_tokens(parse(body))})
