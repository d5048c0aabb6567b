"""Offline token estimates, for decisions that must be made before a call (budgets, rate limits).

Exact counts come back in each response's usage; these estimates only need the right magnitude.
The rule (a common-length word is one token, a word longer than 10 letters one token per 6,
up to 3 digits a token, each punctuation mark a token) gives the usual ~1.3 tokens per English word
of OpenAI's BPE encodings and needs no tokenizer download (tiktoken fetches its files at run time).
"""
import json
import math
import re

_PIECES = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]")
MESSAGE_OVERHEAD = 4   # role and separators per chat message
REPLY_PRIMING = 3


def estimate_tokens(text: object) -> int:
    """About how many tokens `text` is (a string, or anything JSON-serialisable), without a tokenizer."""
    if not text:
        return 0
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False)
    return sum(1 if len(p) <= 10 else math.ceil(len(p) / 6) for p in _PIECES.findall(text))


def estimate_messages(messages, system=None, tools=None):
    """Estimated prompt tokens of a chat request (neutral messages)."""
    n = REPLY_PRIMING + (estimate_tokens(system) + MESSAGE_OVERHEAD if system else 0)
    for m in messages:
        n += MESSAGE_OVERHEAD + estimate_tokens(m.get("content") or "")
        for call in m.get("tool_calls") or []:
            n += estimate_tokens(call.name) + estimate_tokens(call.arguments)
    if tools:
        n += estimate_tokens(tools)
    return n
