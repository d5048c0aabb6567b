"""glwork-extractive-v1: the fallback when no local LLM can run.

It writes nothing new: it picks the sentences of the prompt's own context (system text, earlier
turns, the part of the last user turn around the question) that share the most words with the
question. RAG prompts still get a sensible, checkable answer. Word overlap, not embeddings, so
the fallback never pays the multi-second torch import.
"""
import json
import math
import re

from .generation import GenResult

MODEL_NAME = "glwork-extractive-v1"
NO_ANSWER = "I could not find the answer in the provided context."
_WORD = re.compile(r"[A-Za-z0-9]+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_LABEL = re.compile(r"(?i)^(context|documents?|sources?|passage)\s*\d*\s*:\s*")
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_STOP = set("""a an and are as at be been but by can could did do does for from had has have how i
if in into is it its me my of on or our so than that the their them then there these they this
to was we were what when where which who whom why will with would you your about please answer
question context using use only based given tell""".split())


def _words(text):
    return {w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP and len(w) > 1}


def _count(text):
    return len(_TOKEN.findall(text))


def _question_and_context(messages):
    texts = [m.get("content") or "" for m in messages if m["role"] in ("system", "user", "tool")]
    last_user = next((m.get("content") or "" for m in reversed(messages)
                      if m["role"] == "user"), "")
    sentences = [s.strip() for t in texts for s in _SPLIT.split(t) if s.strip()]
    user_sents = [s.strip() for s in _SPLIT.split(last_user) if s.strip()]
    asked = [s for s in user_sents if s.endswith("?") or s.lower().startswith("question")]
    question = asked[-1] if asked else (user_sents[-1] if user_sents else "")
    context = [s for s in sentences if s != question and not s.lower().startswith("question")]
    return re.sub(r"(?i)^question\s*:\s*", "", question), context


def answer(messages, k=2):
    """The k context sentences that best match the question, in their original order."""
    question, context = _question_and_context(messages)
    q = _words(question)
    bags = [_words(s) for s in context]
    # Rare words (a date, a name) say more than words every sentence repeats.
    df = {w: sum(w in b for b in bags) for w in q}
    scored = []
    for i, (s, bag) in enumerate(zip(context, bags)):
        score = sum(math.log(1 + len(bags) / df[w]) for w in q & bag)
        if score:
            scored.append((score / math.sqrt(len(bag)), -i, s))
    best = sorted(scored, reverse=True)[:k]
    best = [b for b in best if b[0] >= 0.5 * best[0][0]] if best else []
    if not best:
        return NO_ANSWER
    return " ".join(_LABEL.sub("", s) for _, _, s in sorted(best, key=lambda t: -t[1]))


def _guess_args(schema, text):
    """Fill a tool's required arguments from the user's words (a labelled guess, not a model)."""
    args = {}
    props = (schema or {}).get("properties", {})
    names = re.findall(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*", text)
    numbers = re.findall(r"-?\d+(?:\.\d+)?", text)
    for key in (schema or {}).get("required", list(props)):
        p = props.get(key, {})
        if p.get("enum"):
            args[key] = p["enum"][0]
        elif p.get("type") in ("number", "integer"):
            n = float(numbers[0]) if numbers else 0
            args[key] = int(n) if p["type"] == "integer" else n
        elif p.get("type") == "boolean":
            args[key] = False
        else:
            args[key] = names[-1] if names else text.strip()
    return args


class ExtractiveEngine:
    """Answers from the prompt's own sentences; model name glwork-extractive-v1."""

    name = "extractive"
    model = MODEL_NAME

    def __init__(self, why="selected"):
        self.why = why

    def info(self):
        return {"engine": self.name, "model": self.model,
                "runtime": "python (word-overlap sentence extraction, no LLM)"}

    def count_tokens(self, text):
        return _count(text)

    def prompt_tokens(self, req):
        return sum(_count(m.get("content") or "") + 4 for m in req.messages)

    def chat(self, req):
        prompt_tokens = self.prompt_tokens(req)
        yield "start", prompt_tokens
        choice = req.tool_choice or "auto"
        if req.tools and choice not in ("auto", "none"):
            tool = next((t for t in req.tools if not isinstance(choice, dict)
                         or t["name"] == choice.get("name")), req.tools[0])
            last = next((m.get("content") or "" for m in reversed(req.messages)
                         if m["role"] == "user"), "")
            call = {"name": tool["name"], "arguments": _guess_args(tool.get("parameters"), last)}
            yield "done", GenResult("", [call], "tool_calls", prompt_tokens,
                                    _count(json.dumps(call)))
            return
        text = answer(req.messages)
        if req.json_mode or req.json_schema:
            text = json.dumps({"answer": text})
        elif req.prefill:
            text = " " + text
        words = re.findall(r"\S+\s*", text)
        for w in words:
            yield "text", w
        yield "done", GenResult(text, [], "stop", prompt_tokens, _count(text))
