"""SessionCache: a SemanticCacheManager plugged into ChatSession's hook seam (session.add_hook).

Before each call the last user message is looked up in the scope of the call (provider, model,
system message, temperature, tools, response format, max_tokens, tool_choice, user); a hit becomes
the reply (the session commits it with cached=True, cost 0, no tokens). After each reply from the
provider, the reply is stored. Per session it counts hits, misses and what they saved.

Conversation history:
- the first question of a conversation is stored and looked up without history;
- a later question that stands on its own ("What's Scope 3 emissions?") is looked up among those
  single-turn entries too, but one that leans on earlier turns ("Give me an example", "What about
  Scope 2?", "Why is that?") is looked up only under a fingerprint of the whole conversation
  before it, so it is served only after exactly the same conversation (a re-run notebook);
- replies to later questions are stored under that fingerprint, never as single-turn answers
  (they may lean on the conversation even when the question does not).
Tool results and replies that call tools are never cached.
"""
import json
import re
import threading

from ..response import USD, Completion, Usage
from .scope import Scope, history_digest
from .values import cost_of

# A follow-up that needs the conversation to make sense. Broad on purpose: a false "follow-up"
# only costs a cache hit, a false "stands alone" could serve an answer to another question.
_FOLLOW_UP = re.compile(
    r"^\W*(and|but|so|then|or|also|what about|how about)\b"
    r"|\b(it|its|this|that|these|those|they|them|their|he|him|his|she|her|above|below|previous|previously|"
    r"earlier|former|latter|same|such|more|else|another|again|too|instead|further|elaborate|example|"
    r"examples|one|ones|you said|you mentioned|as well)\b",
    re.IGNORECASE)
_MIN_WORDS = 3  # "Why?", "Really?", "And Scope 2?" lean on what came before


def stands_alone(question):
    """True if the question can be understood without the conversation before it (conservative)."""
    return len(question.split()) >= _MIN_WORDS and not _FOLLOW_UP.search(question)


class SessionCache:
    """A ChatSession hook: `session.add_hook(cache.session_hook(user="alice"))`."""

    def __init__(self, cache, user=None):
        self.cache, self.user = cache, user
        self._lock = threading.Lock()
        self._stats = dict(hits=0, misses=0, cost_saved=0.0, tokens_saved=0)

    def __repr__(self):
        return f"SessionCache({self.cache!r}, user={self.user!r})"

    def scopes(self, session, request):
        """(lookup scope, store scope, question) for this call, or None if it must not be cached."""
        messages = request.messages
        if not messages or messages[-1].get("role") != "user" or not isinstance(messages[-1].get("content"), str):
            return None
        question = messages[-1]["content"]
        extra = {k: v for k, v in (("max_tokens", request.max_tokens), ("tool_choice", request.tool_choice))
                 if v is not None} or None
        base = Scope(provider=getattr(session, "provider", None), model=request.model,
                     system_message=request.system, temperature=request.temperature,
                     tools=request.tools or None, response_format=request.response_format, user=self.user,
                     extra=extra)
        earlier = messages[:-1]
        if not earlier:
            return base, base, question
        threaded = _replace(base, history=history_digest(earlier))
        return (base if stands_alone(question) else threaded), threaded, question

    def before_call(self, session, request):
        found = self.scopes(session, request)
        if found is None:
            return None
        lookup_scope, _, question = found
        hit = self.cache.lookup(question, lookup_scope)
        with self._lock:
            if hit is None:
                self._stats["misses"] += 1
                return None
            self._stats["hits"] += 1
            self._stats["cost_saved"] += hit.cost
            self._stats["tokens_saved"] += hit.tokens
        value = hit.value
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return Completion(str(text), list(getattr(value, "tool_calls", None) or []), Usage(),
                          getattr(value, "model", None) or request.model, "stop")

    def after_call(self, session, request, response):
        if response.cached or response.tool_calls or not str(response).strip():
            return
        found = self.scopes(session, request)
        if found is not None:
            cost, tokens = cost_of(response, None, None)
            self.cache.store(found[2], response, found[1], cost=cost, tokens=tokens)

    def stats(self):
        """This session's hits, misses, hit_rate (percent), cost_saved, tokens_saved; the cache's entries."""
        with self._lock:
            s = dict(self._stats)
        lookups = s["hits"] + s["misses"]
        return {"hits": s["hits"], "misses": s["misses"], "lookups": lookups,
                "hit_rate": round(100.0 * s["hits"] / lookups, 1) if lookups else 0.0,
                "cost_saved": USD(round(s["cost_saved"], 8)), "tokens_saved": s["tokens_saved"],
                "entries": len(self.cache)}


def _replace(scope, **changes):
    return Scope(**{**scope.to_dict(), **changes})
