"""SessionCache: a SemanticCacheManager plugged into ChatSession's hook seam (session.add_hook).

Before each call the last user message is looked up in the scope of the call; a hit becomes the
reply (the session commits it with cached=True, cost 0, no tokens). After each reply the reply is
stored. Per session it counts hits, misses and what they saved.

Who answered is part of the scope, so an answer is only served where that same source would have
answered: the provider and model that really wrote the reply (`response.model`; a dated snapshot
such as gpt-4o-mini-2024-07-18 counts as the model asked for) and where it came from
(`source`: "recorded", "local" or "live"). A reply from a fallback route is stored under that
route; one from the local model under mode="local" with model="gpt-4o-mini" is stored as the local
model's, never as a live gpt-4o-mini answer. A lookup uses the identity the session's own route
answered with last (learned per process), else the model it asks for and its mode's source.
Also in the scope: system message, temperature, tools, response format, max_tokens, tool_choice,
seed and user.

Conversation history:
- the first question of a conversation is stored and looked up without history;
- a later question that stands on its own ("What's Scope 3 emissions?") is looked up among those
  single-turn entries too, but one that leans on earlier turns ("Give me an example", "What about
  Scope 2?", "What is my name?", "Now answer in Spanish") is looked up only under a fingerprint of
  the whole conversation before it, so it is served only after exactly the same conversation;
- replies to later questions are stored under that fingerprint, never as single-turn answers
  (they may lean on the conversation even when the question does not).
Tool results and replies that call tools are never cached.
"""
import json
import re
import threading

from ..response import Completion, Usage
from .counts import HitCounter
from .scope import Scope, history_digest, source_of_mode
from .values import cost_of

# A follow-up needs the conversation to make sense. Broad on purpose: a false "follow-up" only
# costs a cache hit; a false "stands alone" serves one conversation's answer in another (on a
# shared cache, another attendee's).
_FOLLOW_UP = re.compile(
    # a continuation: "And Scope 2?", "So why?", "What about...", "Now answer in Spanish"
    r"^\W*(and|but|so|then|or|also|plus|now|next|ok|okay|well|yes|no|sure|thanks|thank you|great|"
    r"what about|how about|why not|what if|in that case)\b"
    # deictic: points at something said before
    r"|\b(it|its|this|that|these|those|they|them|their|theirs|he|him|his|she|her|hers|here|"
    r"above|below|previous|previously|earlier|former|latter|last|same|such|more|else|another|other|"
    r"again|too|instead|further|elaborate|example|examples|one|ones|as well|so far|the rest|"
    r"the (answer|response|reply|text|list|table|code|summary|paragraph|sentence|document|article|"
    r"email|passage|output|result|results|question|point|options?|difference(?! between)))\b"
    # personal: about the user or the conversation ("What is my name?", "What did I just tell you?")
    r"|\b(my|mine|me|myself|our|ours|us|we|i'm|i've|i'd|i'll|your|yours|yourself)\b"
    # "I" outside the generic "how do I ...", "can I ...", "should I ..."
    r"|(?<!\bhow do )(?<!\bhow can )(?<!\bhow should )(?<!\bhow would )(?<!\bhow could )"
    r"(?<!\bwhat should )(?<!\bwhat can )(?<!\bwhere can )(?<!\bwhere do )(?<!\bwhen should )"
    r"(?<!\bwhy should )(?<!^can )(?<!^should )(?<!^could )(?<!^do )(?<!^must )\bi\b"
    # the assistant, outside a polite "can you / could you / would you ..."
    r"|(?<!^can )(?<!^could )(?<!^would )(?<!^will )(?<!^please )\byou\b",
    re.IGNORECASE)
# Instructions about the previous reply: "Translate into French please", "Summarise", "Shorter".
_IMPERATIVE = re.compile(
    r"^\W*(please\s+)?(translate|summari[sz]e|rephrase|paraphrase|rewrite|reword|shorten|simplify|expand|"
    r"continue|repeat|redo|retry|try|answer|respond|reply|format|convert|make|put|turn|say|keep|go|use|"
    r"add|remove|drop|fix|correct|change|show|give|tell|list|write|do|don't|stop|be|shorter|longer|"
    r"simpler|in (english|french|german|spanish|italian|dutch|portuguese|chinese|japanese))\b"
    r"|\b(in|into) (english|french|german|spanish|italian|dutch|portuguese|polish|chinese|japanese|"
    r"korean|arabic|hindi|russian)\b|\b(shorter|longer|simpler|bullet points?|step by step)\W*$",
    re.IGNORECASE)
_MIN_WORDS = 3  # "Why?", "Really?", "And Scope 2?" lean on what came before


def stands_alone(question):
    """True if the question can be understood, and answered for anyone, without the conversation
    before it. Conservative: deictic ("Why is that?"), personal ("What is my name?") and
    imperative follow-ups ("Now answer in Spanish", "Translate into French please") do not."""
    q = " ".join(question.split()).replace("\u2019", "'")
    return len(q.split()) >= _MIN_WORDS and not _FOLLOW_UP.search(q) and not _IMPERATIVE.search(q)


# (provider, model asked for, mode) -> (model, source) that route's own replies came with last
_ANSWERED_BY: dict[tuple, tuple[str, str]] = {}
_ANSWERED_LOCK = threading.Lock()


class SessionCache:
    """A ChatSession hook: `session.add_hook(cache.session_hook(user="alice"))`."""

    def __init__(self, cache, user=None):
        self.cache, self.user = cache, user
        self.counts = HitCounter()   # this session's lookups (the cache counts all of its own)

    def __repr__(self):
        return f"SessionCache({self.cache!r}, user={self.user!r})"

    def scopes(self, session, request):
        """(lookup scope, store scope, question) for this call, or None if it must not be cached.
        The store scope here names the session's own route; after_call names who really answered."""
        messages = request.messages
        if not messages or messages[-1].get("role") != "user" or not isinstance(messages[-1].get("content"), str):
            return None
        question = messages[-1]["content"]
        provider = getattr(session, "provider", None)
        with _ANSWERED_LOCK:
            model, source = _ANSWERED_BY.get(_route_key(session, request),
                                             (request.model, source_of_mode(getattr(session, "mode", None))))
        base = self._scope(request, provider, model, source)
        earlier = messages[:-1]
        if not earlier:
            return base, base, question
        threaded = _replace(base, history=history_digest(earlier))
        return (base if stands_alone(question) else threaded), threaded, question

    def _scope(self, request, provider, model, source):
        # Settings that change the reply: a lower max_tokens truncates it, a seed picks the sample.
        extra = {k: v for k, v in (("max_tokens", request.max_tokens), ("tool_choice", request.tool_choice),
                                   ("seed", getattr(request, "seed", None))) if v is not None} or None
        return Scope(provider=provider, model=model, source=source, system_message=request.system,
                     temperature=request.temperature, tools=request.tools or None,
                     response_format=request.response_format, user=self.user, extra=extra)

    def before_call(self, session, request):
        found = self.scopes(session, request)
        if found is None:
            return None
        lookup_scope, _, question = found
        hit = self.cache.lookup(question, lookup_scope)
        self.counts.record(hit)
        if hit is None:
            return None
        value = hit.value
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        done = Completion(str(text), list(getattr(value, "tool_calls", None) or []), Usage(),
                          getattr(value, "model", None) or lookup_scope.model, "stop")
        done.source = getattr(value, "source", None) or lookup_scope.source  # a hit keeps its reply's source
        return done

    def after_call(self, session, request, response):
        if response.cached or response.tool_calls or not str(response).strip():
            return
        found = self.scopes(session, request)
        if found is None:
            return
        provider = getattr(response, "provider", None) or getattr(session, "provider", None)
        own_route = not getattr(response, "fallback_used", False) and provider == getattr(session, "provider", None)
        source = getattr(response, "source", None) or (source_of_mode(getattr(session, "mode", None))
                                                       if own_route else None)
        if source is None:  # a fallback route's reply that does not say where it came from
            return
        model = answering_model(request.model, getattr(response, "model", None)) if own_route else \
            (getattr(response, "model", None) or None)
        if model is None:
            return
        if own_route:  # later lookups of this route look where its replies really are
            with _ANSWERED_LOCK:
                _ANSWERED_BY[_route_key(session, request)] = (model, source)
        scope = self._scope(request, provider, model, source)
        if found[1].history is not None:
            scope = _replace(scope, history=found[1].history)
        cost, tokens = cost_of(response, None, None)
        self.cache.store(found[2], response, scope, cost=cost, tokens=tokens)

    def stats(self):
        """This session's hits, misses, hit_rate (percent), cost_saved, tokens_saved; the cache's entries."""
        return {**self.counts.summary(), "entries": len(self.cache)}


def answering_model(requested, answered):
    """The model a reply is filed under: the one that wrote it, or the one asked for when the reply
    names a dated snapshot of it (gpt-4o-mini -> gpt-4o-mini-2024-07-18)."""
    if not answered or answered == requested:
        return requested
    if requested and answered.startswith(requested + "-") and re.fullmatch(r"[\d-]+", answered[len(requested) + 1:]):
        return requested
    return answered


def _route_key(session, request):
    return getattr(session, "provider", None), request.model, getattr(session, "mode", None)


def _replace(scope, **changes):
    return Scope(**{**scope.to_dict(), **changes})
