"""Normalise the workshop's `functions=[...]` (and OpenAI/Anthropic `tools=[...]`) to one neutral form."""
import json
import re

from .errors import ConfigurationError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def normalize_tools(functions=None, tools=None):
    """[{"name", "description", "parameters"}] from either argument; clear errors for bad schemas."""
    out = []
    for arg_name, items in (("functions", functions), ("tools", tools)):
        if items is None:
            continue
        if isinstance(items, (str, bytes)):
            try:
                items = json.loads(items)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"{arg_name} is a string that is not valid JSON ({exc.msg} at line "
                                         f"{exc.lineno}, column {exc.colno}). Pass a list of dicts, each with "
                                         f"'name', 'description' and a JSON-schema 'parameters'.") from None
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, (list, tuple)):
            raise ConfigurationError(f"{arg_name} must be a list of function definitions, not {type(items).__name__}.")
        out += [_one(arg_name, i, item) for i, item in enumerate(items)]
    names = [t["name"] for t in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigurationError(f"Function names must be unique; repeated: {', '.join(sorted(dupes))}.")
    return out


def _one(arg_name, i, item):
    where = f"{arg_name}[{i}]"
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{where} is not valid JSON ({exc.msg}).") from None
    if not isinstance(item, dict):
        raise ConfigurationError(f"{where} must be a dict with 'name' and 'parameters', not {type(item).__name__}.")
    if item.get("type") == "function" and isinstance(item.get("function"), dict):  # OpenAI tools format
        item = item["function"]
    params = item.get("parameters", item.get("input_schema", {"type": "object", "properties": {}}))
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(f"{where}: 'name' must be 1-64 letters, digits, '_' or '-' (got {name!r}).")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{where} ({name}): 'parameters' is not valid JSON ({exc.msg}).") from None
    if not isinstance(params, dict):
        raise ConfigurationError(f"{where} ({name}): 'parameters' must be a JSON-schema object (a dict).")
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where} ({name}): 'parameters' is not JSON-serialisable: {exc}.") from None
    if params.get("type", "object") != "object":
        raise ConfigurationError(f"{where} ({name}): 'parameters' must have \"type\": \"object\".")
    params = {"type": "object", **params}
    params.setdefault("properties", {})
    desc = item.get("description")
    if desc is not None and not isinstance(desc, str):
        raise ConfigurationError(f"{where} ({name}): 'description' must be a string.")
    return {"name": name, "description": desc or "", "parameters": params}
