"""Find tool calls in a small model's text, and the JSON schema that forces one.

Qwen2.5's chat template asks for `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, but
the 0.5B model often writes a bare JSON object or a fenced ```json block instead (measured). We
accept all three, and only for tools the request actually offered.
"""
import json
import re

_DECODER = json.JSONDecoder()
# Wrappers left behind once the JSON inside them is cut out.
_LEFTOVER = re.compile(r"<tool_call>\s*</tool_call>|</?tool_call>|```(?:json)?\s*```", re.I)


def _as_call(obj, names):
    if not isinstance(obj, dict):
        return None
    name = obj.get("name")
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return None
    if name not in names or not isinstance(args, dict):
        return None
    return {"name": name, "arguments": args}


def extract_tool_calls(text, tool_names):
    """Split model output into (remaining_text, calls, unknown_names).

    calls: [{"name", "arguments": dict}] for offered tools. unknown_names: names of call-shaped
    objects naming a tool that was not offered (the model made one up).
    """
    names = set(tool_names)
    calls, unknown, spans = [], [], []
    i = 0
    while True:
        start = text.find("{", i)
        if start < 0:
            break
        try:
            obj, end = _DECODER.raw_decode(text, start)
        except ValueError:
            i = start + 1
            continue
        objs = obj if isinstance(obj, list) else [obj]
        found = [c for c in (_as_call(o, names) for o in objs) if c]
        if found:
            calls.extend(found)
            spans.append((start, end))
        elif isinstance(obj, dict) and isinstance(obj.get("name"), str) and "arguments" in obj:
            unknown.append(obj["name"])
        i = end
    rest = text
    for start, end in reversed(spans):
        rest = rest[:start] + rest[end:]
    rest = _LEFTOVER.sub("", rest).strip() if calls else text
    return rest, calls, unknown


def forced_call_schema(tools, name=None):
    """JSON schema for {"name": ..., "arguments": ...} limited to one tool (or any offered tool)."""
    chosen = [t for t in tools if name is None or t["name"] == name]
    options = [{
        "type": "object",
        "properties": {"name": {"const": t["name"]},
                       "arguments": t.get("parameters") or {"type": "object"}},
        "required": ["name", "arguments"],
    } for t in chosen]
    return options[0] if len(options) == 1 else {"anyOf": options}
