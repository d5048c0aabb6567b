"""SemanticCacheManager on the shared backend: an answer one kernel stored is served to another,
scoped as before, expiring by Redis TTL; a per-kernel cache while Redis is away. Real redis-server;
the HashingEmbedder stands in for MiniLM (same code path, milliseconds per question)."""
import logging
import time

import pytest

from glwork import config
from glwork.cache import HashingEmbedder, Scope, SemanticCacheManager
from glwork.cache.store import Store
from redis_server import redis_server, redis_url, run_processes  # noqa: F401

Q = "What is the carbon footprint of a transatlantic flight?"
A = "Roughly 1 tonne of CO2 per passenger for a return trip."


@pytest.fixture(autouse=True)
def _reset():
    yield
    config.configure(backend_url=None)


def cache(**kw):
    return SemanticCacheManager(embedder=HashingEmbedder(), guard=False, similarity_threshold=0.9, **kw)


def store_in_another_kernel(question, answer, user=None):
    c = cache()
    return c.set(question, answer, scope=Scope(model="gpt-4", user=user), cost=0.03, tokens=500)


def ask_in_another_kernel(question, user=None):
    c = cache()
    hit = c.lookup(question, scope=Scope(model="gpt-4", user=user))
    return None if hit is None else (hit.value, hit.cost)


def test_an_answer_stored_by_one_process_is_served_to_another(redis_url):
    [entry_id] = run_processes(store_in_another_kernel, [(Q, A)])
    assert entry_id is not None
    served = run_processes(ask_in_another_kernel, [(Q.lower().rstrip("?"),), ("How do heat pumps work?",)])
    assert served == [(A, 0.03), None]
    mine = cache()                               # and to this process, a third kernel
    assert mine.get(Q, scope=Scope(model="gpt-4")) == A
    assert mine.get(Q, scope=Scope(model="gpt-3.5-turbo")) is None     # other scope: never shared
    assert "semantic cache" in repr(mine) and mine.stats()["entries"] == 1


def test_eight_processes_share_answers_and_count_who_asked_what(redis_url):
    c = cache()
    c.set(Q, A, scope=Scope(model="gpt-4"))
    served = run_processes(ask_in_another_kernel, [(Q,)] * 8)
    assert served == [(A, 0.0)] * 8
    assert c._store.top_questions(3) == [(Q, 9)]          # stored once, served eight times


def test_ttl_is_a_redis_expiry_and_expired_answers_are_never_served(redis_url):
    c = cache(ttl=1)
    entry_id = c.set(Q, A)
    link = c._store.redis.backend.link
    ttl_ms = link.run(lambda r: r.pttl(c._store.redis.entry_key(entry_id)))
    assert 0 < ttl_ms <= (1 + 60) * 1000            # Redis deletes it by itself, after a grace minute
    assert c.get(Q) == A
    time.sleep(1.1)
    assert c.get(Q) is None and c.stats()["expired"] == 1
    assert cache().get(Q) is None and c._store.count() == 0


def test_invalidate_and_max_entries_act_on_the_whole_class(redis_url):
    a, b = cache(max_entries=3), cache(max_entries=3)
    for i in range(3):
        a.set(f"question number {i} about solar panels", f"answer {i}")
    assert b.get("question number 0 about solar panels") == "answer 0"
    b.set("question number 9 about wind turbines", "answer 9")        # 4 > 3: the least recently used goes
    assert a._store.count() == 3 and a.get("question number 1 about solar panels") is None
    assert b.invalidate_pattern("question*") == 3 and a.get("question number 9 about wind turbines") is None


def test_redis_down_uses_a_per_kernel_cache_and_comes_back(redis_server, redis_url, caplog):
    c = cache()
    c.set(Q, A)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="glwork"):
        t0 = time.monotonic()
        assert c.get(Q) is None                       # the shared answers are out of reach: a miss
        c.set("How do heat pumps work?", "They move heat.")
        assert c.get("How do heat pumps work?") == "They move heat."     # this kernel's own cache
        assert time.monotonic() - t0 < 2.0
    assert "uses its own in-memory cache" in caplog.text
    redis_server.start()                              # empty: no persistence in tests
    time.sleep(1.05)
    assert c.get("How do heat pumps work?") is None   # shared again; the local entries are dropped
    c.set(Q, A)
    assert cache().get(Q) == A
    assert "is back" in caplog.text


def test_explicit_path_keeps_a_private_sqlite_cache(redis_url, tmp_path):
    c = cache(path=tmp_path / "mine.sqlite")
    assert isinstance(c._store, Store) and c.path == tmp_path / "mine.sqlite"
    c.set(Q, A)
    assert cache().get(Q) is None                     # not in the class's cache
