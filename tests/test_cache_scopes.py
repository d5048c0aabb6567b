"""Scopes name who really answered: the route, the model that wrote the reply and its source
(recorded / local / live), plus the seed. A reply from a fallback route or from the local model
(mode="local" with model="gpt-4o-mini") is never served to a live gpt-4o-mini session, in this
process or through the class's shared Redis cache."""
import json

import pytest

from glwork import config
from glwork.cache import HashingEmbedder, Scope, SemanticCacheManager, session_hook
from glwork.errors import ConfigurationError
from glwork.llm import ChatSession
from glwork.resilience.retry import RetryPolicy
from redis_server import redis_server, redis_url  # noqa: F401
from wire_server import Canned, cassette

KEY = "test-key-0000"
Q = "Which ocean lies between Europe and America?"
LOCAL_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"


@pytest.fixture(autouse=True)
def _fresh_process():
    # Each test starts as a new kernel: no route has answered yet.
    session_hook._ANSWERED_BY.clear()
    yield
    session_hook._ANSWERED_BY.clear()
    config.configure(backend_url=None)


def reply(model, text="Atlantic Ocean."):
    """The recorded OpenAI reply, as written by `model`."""
    [canned] = cassette("openai/chat_nonstream_basic.yaml")
    body = json.loads(canned.body)
    body["model"] = model
    body["choices"][0]["message"]["content"] = text
    return Canned(canned.status, canned.headers, json.dumps(body).encode())


def server_error():
    return Canned(503, [("content-type", "application/json")],
                  json.dumps({"error": {"message": "overloaded", "type": "server_error"}}).encode())


def new_cache():
    return SemanticCacheManager(0.9, embedder=HashingEmbedder(), guard=False)


def chat(srv, cache, mode, model="gpt-4o-mini", **kw):
    return ChatSession(provider="openai", model=model, base_url=srv.url + "/v1", api_key=KEY, mode=mode,
                       semantic_cache=cache, max_retries=0, **kw)


def test_a_local_models_reply_is_never_served_to_a_live_session(wire_server):
    cache = new_cache()
    wire_server.queue(reply(LOCAL_MODEL, "The Atlantic (local model)."), reply("gpt-4o-mini-2024-07-18"))
    local = chat(wire_server, cache, "local").send_message(Q)
    assert local.model == LOCAL_MODEL and not local.cached
    live = chat(wire_server, cache, "live").send_message(Q)
    assert not live.cached and str(live) == "Atlantic Ocean." and len(wire_server.requests) == 2
    # Each is served again only where it came from.
    again_local = chat(wire_server, cache, "local").send_message(Q)
    assert again_local.cached and str(again_local) == "The Atlantic (local model)."
    assert again_local.model == LOCAL_MODEL and again_local.source == "local"     # says where it came from
    assert cache.get(Q, scope=Scope(provider="openai", model=LOCAL_MODEL, source="local")).source == "local"
    again_live = chat(wire_server, cache, "live").send_message(Q)
    assert again_live.cached and str(again_live) == "Atlantic Ocean." and len(wire_server.requests) == 2
    assert again_live.source == "live"
    scopes = {(s["model"], s["source"]) for s in _stored_scopes(cache)}
    assert scopes == {(LOCAL_MODEL, "local"), ("gpt-4o-mini", "live")}


def test_a_fallback_routes_reply_is_filed_under_that_route(wire_server):
    cache = new_cache()
    second = type(wire_server)()
    try:
        wire_server.queue(server_error(), reply("gpt-4o-mini-2024-07-18", "Atlantic Ocean (primary)."))
        second.queue(reply("gpt-3.5-turbo-0125", "Atlantic (fallback)."))
        backup = {"provider": "openai", "model": "gpt-3.5-turbo", "base_url": second.url + "/v1", "api_key": KEY}
        s = ChatSession(provider="openai", model="gpt-4o-mini", base_url=wire_server.url + "/v1", api_key=KEY,
                        mode="live", semantic_cache=cache, fallbacks=[backup],
                        retry_policy=RetryPolicy(max_retries=0, jitter=0))
        first = s.send_message(Q)
        assert first.fallback_used and str(first) == "Atlantic (fallback)."
        s.reset()
        again = s.send_message(Q)       # the primary route is back: its own answer, not the fallback's
        assert not again.cached and str(again) == "Atlantic Ocean (primary)."
        assert {(sc["model"], sc["provider"]) for sc in _stored_scopes(cache)} == \
            {("gpt-3.5-turbo-0125", "openai"), ("gpt-4o-mini", "openai")}
        # A session that asks for the fallback's model gets the fallback's answer.
        own = chat(second, cache, "live", model="gpt-3.5-turbo-0125").send_message(Q)
        assert own.cached and str(own) == "Atlantic (fallback)."
    finally:
        second.close()


def test_a_dated_snapshot_counts_as_the_model_asked_for_across_kernels(wire_server):
    cache = new_cache()
    wire_server.queue(reply("gpt-4o-mini-2024-07-18"))
    chat(wire_server, cache, "live").send_message(Q)
    session_hook._ANSWERED_BY.clear()          # another kernel: nothing learned yet
    assert chat(wire_server, cache, "live").send_message(Q).cached
    assert session_hook.answering_model("gpt-4o", "gpt-4o-mini-2024-07-18") == "gpt-4o-mini-2024-07-18"
    assert session_hook.answering_model("gpt-4o-mini", "gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert session_hook.answering_model("gpt-4o-mini", None) == "gpt-4o-mini"


def test_sessions_that_differ_only_by_seed_do_not_share(wire_server):
    cache = new_cache()
    wire_server.queue(reply("gpt-4o-mini"), reply("gpt-4o-mini", "Atlantic, seed 2."))
    assert not chat(wire_server, cache, "live", seed=1).send_message(Q).cached
    assert not chat(wire_server, cache, "live", seed=2).send_message(Q).cached
    assert chat(wire_server, cache, "live", seed=1).send_message(Q).cached
    assert len(wire_server.requests) == 2


def test_through_the_shared_redis_cache_a_local_reply_never_reaches_live_sessions(wire_server, redis_url):
    wire_server.queue(reply(LOCAL_MODEL, "The Atlantic (local model)."), reply("gpt-4o-mini-2024-07-18"))
    attendee_offline, attendee_live = new_cache(), new_cache()     # two kernels, one Redis
    assert str(attendee_offline.path).startswith("redis://")
    chat(wire_server, attendee_offline, "local").send_message(Q)
    assert attendee_live.stats()["entries"] == 1                    # the entry is shared...
    live = chat(wire_server, attendee_live, "live").send_message(Q)
    assert not live.cached and str(live) == "Atlantic Ocean."       # ...but not served to a live session
    third = new_cache()
    assert chat(wire_server, third, "live").send_message(Q).cached  # the live answer is shared
    assert len(wire_server.requests) == 2


def test_scope_source_is_checked_and_part_of_the_key():
    assert Scope(model="m", source="local").key != Scope(model="m", source="live").key
    with pytest.raises(ConfigurationError, match="source"):
        Scope(source="cassette")

    class S:  # what Scope.from_session reads
        provider, model, system_message, temperature, tools, response_format = "openai", "gpt-4", None, None, None, None
        max_tokens, tool_choice, seed, mode = None, None, 3, "local"

    scope = Scope.from_session(S())
    assert scope.source == "local" and scope.extra == {"seed": 3}
    S.mode = "replay"
    assert Scope.from_session(S()).source == "recorded"


def _stored_scopes(cache):
    return [cache._store.info(i)[0] for i in sorted(cache._store.ids())]
