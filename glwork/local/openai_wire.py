"""OpenAI Chat Completions and Embeddings wire format (also Azure OpenAI's deployment paths).

Shapes follow the recordings in tests/fixtures/wire/openai and azure/: Azure adds
`prompt_filter_results` and per-choice `content_filter_results`, and opens a stream with a
`choices: []` chunk that carries only the prompt filter results.
"""
import base64
import json

from .generation import GenRequest
from .wire import Reply, Stream, WireError, final_result, now, primed, rand_id, sse

_SAFE = {"filtered": False, "severity": "safe"}
CONTENT_FILTER = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": CONTENT_FILTER}]


def _bad(message, param=None, code=None):
    return WireError(400, message, "invalid_request_error", param, code)


def _text(content, where):
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, dict) and p.get("type") == "text":
                parts.append(p.get("text", ""))
            elif isinstance(p, str):
                parts.append(p)
            else:
                kind = p.get("type") if isinstance(p, dict) else type(p).__name__
                raise _bad(f"The local model accepts only text content, not {kind!r}.", where)
        return "\n".join(parts)
    raise _bad(f"Invalid type for '{where}': expected a string or an array of parts.", where)


def _messages(raw):
    if not isinstance(raw, list) or not raw:
        raise _bad("Missing required parameter: 'messages'." if raw is None
                   else "Invalid 'messages': expected a non-empty array.", "messages")
    out = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user",
                                                           "assistant", "tool"):
            raise _bad(f"Invalid value for '{where}.role': expected one of system, developer, "
                       "user, assistant or tool.", f"{where}.role")
        msg = {"role": "system" if m["role"] == "developer" else m["role"],
               "content": _text(m.get("content"), f"{where}.content")}
        if m.get("tool_calls"):
            msg["tool_calls"] = []
            for c in m["tool_calls"]:
                fn = c.get("function") or {}
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    args = {"_raw": fn.get("arguments")}
                msg["tool_calls"].append({"id": c.get("id"), "name": fn.get("name"),
                                          "arguments": args})
        if m["role"] == "tool":
            if not m.get("tool_call_id"):
                raise _bad(f"Missing required parameter: '{where}.tool_call_id'.",
                           f"{where}.tool_call_id")
            msg["tool_call_id"] = m["tool_call_id"]
        out.append(msg)
    return out


def _tools(body):
    tools = []
    for i, t in enumerate(body.get("tools") or []):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise _bad(f"Missing required parameter: 'tools[{i}].function.name'.",
                       f"tools[{i}].function.name")
        tools.append({"name": fn["name"], "description": fn.get("description", ""),
                      "parameters": fn.get("parameters") or {"type": "object", "properties": {}}})
    choice = body.get("tool_choice") or "auto"
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in {t["name"] for t in tools}:
            raise _bad(f"Invalid value for 'tool_choice': no function named {name!r} in 'tools'.",
                       "tool_choice")
        choice = {"name": name}
    elif choice not in ("auto", "none", "required"):
        raise _bad("Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a "
                   "function.", "tool_choice")
    return tools, choice


def parse_chat(body, azure=False):
    """An OpenAI chat request body -> GenRequest (WireError 400 on what the API would refuse)."""
    if not azure and not body.get("model"):
        raise _bad("you must provide a model parameter")
    if (body.get("n") or 1) != 1:
        raise _bad("The local backend returns one choice: 'n' must be 1.", "n")
    temperature = body.get("temperature")
    if temperature is not None and not (isinstance(temperature, (int, float))
                                        and 0 <= temperature <= 2):
        raise _bad(f"Invalid 'temperature': expected a number from 0 to 2, got {temperature!r}.",
                   "temperature", "invalid_value")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None and not (isinstance(max_tokens, int) and max_tokens >= 1):
        raise _bad(f"Invalid 'max_tokens': expected an integer >= 1, got {max_tokens!r}.",
                   "max_tokens", "invalid_value")
    fmt = body.get("response_format") or {}
    schema = None
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
    stop = body.get("stop")
    tools, choice = _tools(body)
    return GenRequest(
        messages=_messages(body.get("messages")), tools=tools, tool_choice=choice,
        json_mode=fmt.get("type") == "json_object", json_schema=schema,
        max_tokens=max_tokens,
        temperature=temperature, top_p=body.get("top_p"), seed=body.get("seed"),
        stop=[stop] if isinstance(stop, str) else stop)


def _usage(result):
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}


def _tool_calls(result):
    return [{"id": rand_id("call_"), "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for c in result.tool_calls]


def chat_response(result, model, fingerprint, azure=False):
    message = {"role": "assistant", "content": result.text if (result.text or not result.tool_calls)
               else None, "refusal": None, "annotations": []}
    if result.tool_calls:
        message["tool_calls"] = _tool_calls(result)
    choice = {"index": 0, "message": message, "logprobs": None,
              "finish_reason": result.finish_reason}
    body = {"id": rand_id("chatcmpl-", 29), "object": "chat.completion", "created": now(),
            "model": model, "choices": [choice], "usage": _usage(result),
            "service_tier": "default", "system_fingerprint": fingerprint}
    if azure:
        choice["content_filter_results"] = CONTENT_FILTER
        body["prompt_filter_results"] = PROMPT_FILTER
        del body["service_tier"]
    return body


def chat_stream(events, model, fingerprint, include_usage, azure=False):
    """SSE frames for an engine event stream, in OpenAI's chunk order."""
    base = {"id": rand_id("chatcmpl-", 29), "object": "chat.completion.chunk", "created": now(),
            "model": model, "system_fingerprint": fingerprint}

    def chunk(delta, finish=None):
        c = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if azure:   # Azure's recorded deltas carry filter results but no `refusal`
            c["content_filter_results"] = {}
            delta.pop("refusal", None)
        out = {**base, "choices": [c]}
        if include_usage:
            out["usage"] = None
        return sse(out)

    try:
        if azure:
            yield sse({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                       "prompt_filter_results": PROMPT_FILTER})
        started = False
        for kind, value in events:
            if kind == "start":
                continue
            if kind == "text":
                if not started:
                    started = True
                    yield chunk({"role": "assistant", "content": "", "refusal": None})
                yield chunk({"content": value})
                continue
            result = value
            calls = _tool_calls(result)
            if not started and (result.text or not calls):
                started = True
                yield chunk({"role": "assistant", "content": "", "refusal": None})
                if result.text:   # text that came with tool calls (buffered, not streamed)
                    yield chunk({"content": result.text})
            for i, call in enumerate(calls):
                fn = call["function"]
                delta = {"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                         "function": {"name": fn["name"], "arguments": ""}}]}
                if not started:   # the first chunk also opens the message, as the API does
                    started = True
                    delta = {"role": "assistant", "content": None, **delta, "refusal": None}
                yield chunk(delta)
                # Arguments arrive in pieces on the real API; clients must join them.
                args = fn["arguments"]
                for j in range(0, len(args), 12):
                    piece = {"index": i, "function": {"arguments": args[j:j + 12]}}
                    yield chunk({"tool_calls": [piece]})
            yield chunk({}, result.finish_reason)
            if include_usage:
                yield sse({**base, "choices": [], "usage": _usage(result)})
        yield sse("[DONE]")
    finally:
        events.close()


def chat(call):
    azure = call.provider == "azure"
    req = parse_chat(call.body, azure)
    engine = call.engine
    fp = f"fp_glwork_{engine.name}"
    events = engine.chat(req)
    if call.body.get("stream"):
        include = bool((call.body.get("stream_options") or {}).get("include_usage"))
        events = primed(events)
        return Stream(chat_stream(events, engine.model, fp, include, azure), events)
    result = final_result(events)
    return Reply(200, chat_response(result, engine.model, fp, azure))


def embeddings(call):
    from ..embeddings.local import local_embedder
    body = call.body
    if call.provider != "azure" and not body.get("model"):
        raise _bad("you must provide a model parameter")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise _bad("'input' must be a string or a non-empty array of strings (the local model "
                   "cannot read token arrays).", "input")
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise _bad(f"Invalid value for 'encoding_format': {fmt!r}.", "encoding_format")
    emb = local_embedder()
    vecs = emb.encode(texts)
    dims = body.get("dimensions")
    if dims is not None:
        if not isinstance(dims, int) or not 1 <= dims <= vecs.shape[1]:
            raise _bad(f"'dimensions' must be between 1 and {vecs.shape[1]} for "
                       f"{emb.model_name}.", "dimensions")
        import numpy as np
        vecs = vecs[:, :dims]
        vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    data = []
    for i, v in enumerate(vecs.astype("<f4")):
        value = base64.b64encode(v.tobytes()).decode() if fmt == "base64" else v.tolist()
        data.append({"object": "embedding", "index": i, "embedding": value})
    n = sum(emb.count_tokens(texts))
    return Reply(200, {"object": "list", "data": data, "model": emb.model_name,
                       "usage": {"prompt_tokens": n, "total_tokens": n}})
