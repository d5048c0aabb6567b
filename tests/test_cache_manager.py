"""SemanticCacheManager logic with the HashingEmbedder (no model): get/set, kinds, scopes, TTL, LRU,
invalidation, stats, explain, bad input."""
import pytest

from glwork.cache import Guard, HashingEmbedder, Scope, SemanticCacheManager
from glwork.errors import ConfigurationError
from glwork.response import USD, ChatResponse, ToolCall, Usage

Q1 = "What is carbon footprint?"


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    return SemanticCacheManager(0.9, ttl=3600, embedder=HashingEmbedder(), clock=clock)


def reply(text="A carbon footprint is the total GHG emissions caused by ...", cost=0.01, tokens=120):
    return ChatResponse(text, usage=Usage(100, tokens - 100), model="gpt-4", provider="openai", cost=USD(cost),
                        finish_reason="stop")


def test_get_set_and_miss(cache):
    assert cache.get(Q1) is None
    cache.set(Q1, "A carbon footprint is ...")
    assert cache.get(Q1) == "A carbon footprint is ..."
    assert cache.get("what is  carbon footprint") == "A carbon footprint is ..."  # case, spacing, '?'
    assert cache.get("How do I bake sourdough bread?") is None
    assert len(cache) == 1


def test_values_come_back_as_the_same_kind(cache):
    cache.set("q one text", "plain")
    cache.set("q two text", {"answer": reply("Scope 1 is direct."), "sources": [{"id": "scope1", "score": 0.98}]})
    cache.set("q three text", [1, 2.5, None, "x"])
    call = ToolCall("call_1", "calc", {"x": 1}, '{"x": 1}')
    cache.set("q four text", ChatResponse("", tool_calls=[call], model="gpt-4", provider="openai", cost=USD(0.02),
                                          usage=Usage(10, 5)))
    assert type(cache.get("q one text")) is str
    assert cache.get("q two text") == {"answer": "Scope 1 is direct.", "sources": [{"id": "scope1", "score": 0.98}]}
    assert cache.get("q three text") == [1, 2.5, None, "x"]
    got = cache.get("q four text")
    assert isinstance(got, ChatResponse) and got.cached is True and got.cost == 0
    assert got.usage.total_tokens == 0 and got.model == "gpt-4" and got.provider == "openai"
    assert got.tool_calls[0].name == "calc" and got.tool_calls[0].arguments == {"x": 1}


def test_chat_response_hit_is_free_and_counts_savings(cache):
    cache.set(Q1, reply(cost=0.01, tokens=120))
    hit = cache.lookup("what is carbon footprint")
    assert hit.value == reply() and hit.value.cached and hit.value.cost == 0 and hit.value.latency_ms >= 0
    assert hit.cost == 0.01 and hit.tokens == 120 and hit.query == Q1 and hit.kind == "chat"
    assert hit.chat_response() is hit.value
    cache.get(Q1)
    s = cache.stats()
    assert (s["hits"], s["misses"], s["cost_saved"], s["tokens_saved"]) == (2, 0, 0.02, 240)
    assert cache.get_cost_saved() == 0.02 and isinstance(cache.get_cost_saved(), USD)


def test_lab_dict_cost_read_from_its_chat_response(cache):
    cache.set("Q lab", {"answer": reply(cost=0.0234, tokens=456), "sources": []})
    cache.get("Q lab")
    assert cache.stats()["cost_saved"] == 0.0234 and cache.stats()["tokens_saved"] == 456


def test_hit_chat_response_for_plain_values(cache):
    cache.set(Q1, {"answer": "x"}, cost=0.5, tokens=7)
    r = cache.lookup(Q1).chat_response(latency_ms=1.0)
    assert isinstance(r, ChatResponse) and r.cached and r.cost == 0 and r.usage.total_tokens == 0
    assert r == '{"answer": "x"}'


def test_stats_numbers(cache):
    cache.set(Q1, "a", cost=0.01, tokens=10)
    cache.get(Q1)
    cache.get(Q1)
    cache.get("Something else entirely, about football")
    s = cache.get_cache_stats()
    assert s["hits"] == 2 and s["misses"] == 1 and s["lookups"] == 3
    assert s["hit_rate"] == 66.7 and cache.get_cache_hit_rate() == 66.7
    assert s["cost_saved"] == 0.02 and s["tokens_saved"] == 20 and s["entries"] == 1
    cache.reset_stats()
    assert cache.stats()["hits"] == 0 and cache.stats()["hit_rate"] == 0.0


def test_same_question_replaces_its_answer(cache):
    cache.set(Q1, "old")
    cache.set("what is carbon footprint", "new")
    assert len(cache) == 1 and cache.get(Q1) == "new"


def test_store_many(cache):
    ids = cache.store_many([("alpha question one", "a"), ("beta question two", "b"), ("alpha question one", "a2")])
    assert len(ids) == 2 and len(cache) == 2
    assert cache.get("alpha question one") == "a2"
    cache.store_many([("beta question two", "b2")])
    assert len(cache) == 2 and cache.get("beta question two") == "b2"


# ---- scopes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("a, b", [
    (Scope(model="gpt-4"), Scope(model="gpt-4o")),
    (Scope(model="gpt-4", system_message="You are a carbon expert."), Scope(model="gpt-4", system_message="Be brief.")),
    (Scope(model="gpt-4", temperature=0.3), Scope(model="gpt-4", temperature=0.7)),
    (Scope(model="gpt-4", user="tenant-a"), Scope(model="gpt-4", user="tenant-b")),
    (Scope(model="gpt-4", tools=[{"name": "f"}]), Scope(model="gpt-4")),
    (Scope(model="gpt-4", response_format={"type": "json_object"}), Scope(model="gpt-4")),
    (Scope(), Scope(model="gpt-4")),
])
def test_no_answer_crosses_scopes(cache, a, b):
    cache.set(Q1, "answer for a", scope=a)
    assert cache.get(Q1, scope=a) == "answer for a"
    assert cache.get(Q1, scope=b) is None
    cache.set(Q1, "answer for b", scope=b)
    assert cache.get(Q1, scope=a) == "answer for a" and cache.get(Q1, scope=b) == "answer for b"


def test_scope_keys():
    assert Scope().key == "default"
    assert Scope(temperature=0.3).key == Scope(temperature=0.30).key == Scope.coerce({"temperature": 0.3}).key
    assert Scope(temperature=0).key == Scope(temperature=0.0).key != Scope().key
    assert Scope(tools=[{"b": 1, "a": 2}]).key == Scope(tools=[{"a": 2, "b": 1}]).key
    assert Scope(model="m", user="u").differences(Scope(model="m", user="v")) == ["user"]
    with pytest.raises(ConfigurationError, match="Unknown scope fields"):
        Scope.coerce({"modle": "gpt-4"})
    with pytest.raises(ConfigurationError, match="temperature"):
        Scope(temperature="hot")


def test_scope_from_session_and_history():
    class Session:  # the attributes ChatSession exposes
        provider, model, system_message, temperature = "openai", "gpt-4", "Be brief.", 0.3
        tools, response_format, max_tokens, tool_choice = [], None, 200, None

    first = Scope.from_session(Session(), user="alice")
    assert first.model == "gpt-4" and first.user == "alice" and first.history is None
    assert first.extra == {"max_tokens": 200} and first.tools is None
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    later = Scope.from_session(Session(), user="alice", history=turns)
    assert later.history and later.key != first.key
    assert Scope.from_session(Session(), user="alice", history=list(turns)).key == later.key


def test_default_scope_of_the_manager(clock):
    scoped = SemanticCacheManager(0.9, embedder=HashingEmbedder(), clock=clock, scope={"model": "gpt-4"})
    scoped.set(Q1, "x")
    assert scoped.get(Q1) == "x" and scoped.get(Q1, scope=Scope()) is None


# ---- expiry and eviction ---------------------------------------------------------------------------------
def test_absolute_ttl(clock):
    cache = SemanticCacheManager(0.9, ttl=60, embedder=HashingEmbedder(), clock=clock)
    cache.set(Q1, "x")
    clock.t += 59
    assert cache.get(Q1) == "x"  # a hit does not extend an absolute ttl
    clock.t += 2
    assert cache.get(Q1) is None
    assert len(cache) == 0 and cache.stats()["expired"] == 1


def test_sliding_ttl(clock):
    cache = SemanticCacheManager(0.9, ttl=60, sliding=True, embedder=HashingEmbedder(), clock=clock)
    cache.set(Q1, "x")
    for _ in range(3):
        clock.t += 50
        assert cache.get(Q1) == "x"
    clock.t += 61
    assert cache.get(Q1) is None and len(cache) == 0


def test_per_entry_ttl_and_never(clock):
    cache = SemanticCacheManager(0.9, ttl=60, embedder=HashingEmbedder(), clock=clock)
    cache.set("short lived question", "x", ttl=5)
    cache.set("forever question here", "y", ttl=None)
    clock.t += 10 ** 8
    assert cache.get("short lived question") is None and cache.get("forever question here") == "y"


def test_expired_entries_are_evicted_on_set(clock):
    cache = SemanticCacheManager(0.9, ttl=10, embedder=HashingEmbedder(), clock=clock)
    cache.set("first question text", "a")
    clock.t += 11
    cache.set("second question text", "b")
    assert len(cache) == 1


def test_lru_eviction(clock):
    cache = SemanticCacheManager(0.9, embedder=HashingEmbedder(), clock=clock, max_entries=3)
    for q in ("alpha one", "bravo two", "charlie three"):
        clock.t += 1
        cache.set(q, q)
    clock.t += 1
    assert cache.get("alpha one") == "alpha one"  # now the most recently used
    clock.t += 1
    cache.set("delta four", "delta four")
    assert len(cache) == 3 and cache.get("bravo two") is None
    assert cache.get("alpha one") and cache.get("charlie three") and cache.get("delta four")
    assert cache.stats()["evicted"] == 1


# ---- invalidation ----------------------------------------------------------------------------------------
def test_invalidate(cache):
    cache.set(Q1, "x")
    cache.set(Q1, "y", scope=Scope(model="gpt-4"))
    cache.set("What is Scope 3?", "z")
    assert cache.invalidate("what is carbon footprint") == 2  # all scopes
    assert cache.get(Q1) is None and cache.get("What is Scope 3?") == "z"
    cache.set(Q1, "x")
    cache.set(Q1, "y", scope=Scope(model="gpt-4"))
    assert cache.invalidate(Q1, scope=Scope(model="gpt-4")) == 1 and cache.get(Q1) == "x"


def test_invalidate_pattern(cache):
    for q in ("What is carbon footprint?", "Carbon taxes in the EU?", "What is Scope 3?", "Is decarbonisation costly?"):
        cache.set(q, q)
    assert cache.invalidate_pattern("carbon*") == 2  # from the start of the text or of any word
    assert cache.get("What is Scope 3?") and cache.get("Is decarbonisation costly?")
    assert cache.invalidate_pattern("*CARBON*") == 1
    assert cache.invalidate_pattern("what is scope [0-9]*") == 1 and len(cache) == 0


def test_invalidate_older_than(clock):
    cache = SemanticCacheManager(0.9, ttl=None, embedder=HashingEmbedder(), clock=clock)
    cache.set("old question about fuel", "a")
    clock.t += 8 * 86400
    cache.set("new question about travel", "b")
    assert cache.invalidate_older_than(days=7) == 1
    assert cache.get("new question about travel") == "b" and len(cache) == 1
    clock.t += 3 * 3600
    assert cache.invalidate_older_than(hours=2) == 1 and len(cache) == 0


def test_clear(cache):
    cache.set("one question", "a")
    cache.set("two question", "b", scope=Scope(user="u"))
    cache.get("one question")
    assert cache.clear() == 2 and len(cache) == 0 and cache.get("one question") is None
    assert cache.stats()["hits"] == 1  # stats are kept


# ---- explain ---------------------------------------------------------------------------------------------
def test_explain(cache, clock):
    cache.set(Q1, "x")
    cache.set("What are Scope 1 emissions for a company?", "s1")
    cache.set(Q1, "other", scope=Scope(model="gpt-4o"))
    ex = cache.explain("What is carbon footprint")
    assert ex.hit["query"] == Q1 and ex.hit["decision"] == "HIT" and ex.hit["cosine"] > 0.9
    other = [r for r in ex if r["reason"].startswith("other scope")]
    assert other and "model" in other[0]["reason"]
    text = repr(ex)
    assert "threshold 0.9" in text and "HIT" in text and Q1 in text and "other scope" in text
    ex2 = cache.explain("What are Scope 2 emissions for a company?")
    row = next(r for r in ex2 if r["query"].startswith("What are Scope 1"))
    assert row["decision"] == "miss" and "designators differ" in row["reason"] and ex2.hit is None
    assert cache.stats()["lookups"] == 0  # explain is read-only
    clock.t += 3601
    assert any("expired" in r["reason"] for r in cache.explain(Q1))
    assert list(cache.explain(Q1).to_frame().columns)[:3] == ["query", "cosine", "score"]


def test_guard_rules_block_what_cosine_alone_serves(clock):
    q_cached, q_new = "What are Scope 1 emissions of a bakery?", "What are Scope 2 emissions of a bakery?"
    plain = SemanticCacheManager(0.7, embedder=HashingEmbedder(), clock=clock, guard=False)
    guarded = SemanticCacheManager(0.7, embedder=HashingEmbedder(), clock=clock, guard=True)
    for c in (plain, guarded):
        c.set(q_cached, "Scope 1 answer")
    assert plain.get(q_new) == "Scope 1 answer"  # the false hit
    assert guarded.get(q_new) is None and guarded.stats()["blocked_by_guard"] == 1
    assert plain.scorer == "cosine (no guard)" and "rules on" in guarded.scorer


def test_guard_object_and_other_embedders(clock):
    # The fitted score is for all-MiniLM-L6-v2; any other embedder gets rules + cosine.
    assert SemanticCacheManager(embedder=HashingEmbedder(), clock=clock).guard.score_kind == "cosine"
    c = SemanticCacheManager(0.5, embedder=HashingEmbedder(), clock=clock, guard=Guard(rules=False, score="cosine"))
    c.set("What are Scope 1 emissions of a bakery?", "x")
    assert c.get("What are Scope 2 emissions of a bakery?") == "x"


def test_custom_glossary(clock):
    c = SemanticCacheManager(0.99, embedder=HashingEmbedder(), clock=clock, glossary={r"\bautomobiles?\b": "car"})
    c.set("How green is a car?", "x")
    assert c.get("How green is a automobile?") == "x"
    assert SemanticCacheManager(embedder=HashingEmbedder(), glossary=None).glossary("Scope 1 emissions") == \
        "Scope 1 emissions"


def test_long_prompts_hit_only_on_the_same_text(cache):
    context = " ".join(f"Context sentence {i} about emissions reporting and boundaries." for i in range(30))
    cache.set(context + " Question: what is Scope 1?", "scope 1 answer")
    assert cache.get(context + " Question: what is the ESRS E1 climate standard?") is None
    assert cache.get(context + "  question: WHAT is Scope 1") == "scope 1 answer"
    row = cache.explain(context + " Question: what is the ESRS E1 climate standard?")[0]
    assert "long prompt" in row["reason"]


def test_threshold_one_means_the_same_text(clock):
    exact = SemanticCacheManager(1.0, embedder=HashingEmbedder(), clock=clock, guard=False)
    exact.set("What is carbon footprint?", "x")
    assert exact.get("what is carbon footprint") == "x" and exact.get("What is a carbon footprint?") is None


def test_another_embedding_size_is_refused(cache):
    cache.set(Q1, "x")
    cache._encode = HashingEmbedder(dimension=32).encode  # as if the model changed under the cache
    with pytest.raises(ConfigurationError, match="32-dimensional"):
        cache.get(Q1)
    with pytest.raises(ConfigurationError, match="32-dimensional"):
        cache.set("another question", "y")


# ---- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, words", [
    ({"similarity_threshold": 0}, "similarity_threshold"), ({"similarity_threshold": 1.5}, "at most 1"),
    ({"similarity_threshold": -0.1}, "above 0"), ({"similarity_threshold": "0.9"}, "number"),
    ({"similarity_threshold": True}, "number"), ({"ttl": -1}, "positive number of seconds"),
    ({"ttl": 0}, "None for entries that never expire"), ({"ttl": "1h"}, "ttl"),
    ({"max_entries": 0}, "max_entries"), ({"top_k": 0}, "top_k"), ({"guard": "yes"}, "guard"),
    ({"glossary": "finance"}, "Unknown glossary"), ({"embedder": 42}, "embedder"),
    ({"scope": "gpt-4"}, "scope must be a Scope"),
])
def test_bad_settings(kwargs, words):
    kwargs.setdefault("embedder", HashingEmbedder())
    with pytest.raises(ConfigurationError, match=words):
        SemanticCacheManager(**kwargs)


def test_bad_calls(cache):
    for bad in ("", "   ", None, 42, b"bytes"):
        with pytest.raises(ConfigurationError, match="query"):
            cache.get(bad)
        with pytest.raises(ConfigurationError, match="query"):
            cache.set(bad, "x")
    with pytest.raises(ConfigurationError, match="None"):
        cache.set("q", None)
    with pytest.raises(ConfigurationError, match="JSON-able"):
        cache.set("q", object())
    with pytest.raises(ConfigurationError, match="JSON-able"):
        cache.set("q", {"x": float("nan")})
    with pytest.raises(ConfigurationError, match="ttl"):
        cache.set("q", "x", ttl=-5)
    with pytest.raises(ConfigurationError, match="cost"):
        cache.set("q", "x", cost=-1)
    with pytest.raises(ConfigurationError, match="Say how old"):
        cache.invalidate_older_than()
    with pytest.raises(ConfigurationError, match="days"):
        cache.invalidate_older_than(days=-1)
    with pytest.raises(ConfigurationError, match="glob"):
        cache.invalidate_pattern("")
    assert len(cache) == 0
