"""The SQLite file: round trip, two writing processes, bad files moved aside, threads."""
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from glwork.cache import HashingEmbedder, Scope, SemanticCacheManager
from glwork.cache.store import APPLICATION_ID
from glwork.errors import ConfigurationError
from glwork.response import USD, ChatResponse, Usage


def make(path, **kw):
    kw.setdefault("embedder", HashingEmbedder())
    return SemanticCacheManager(0.9, path=path, **kw)


def test_round_trip_across_instances(tmp_path):
    path = tmp_path / "cache.sqlite"
    a = make(path)
    a.set("What is carbon footprint?", ChatResponse("A footprint is ...", model="gpt-4", cost=USD(0.01),
                                                    usage=Usage(50, 20)))
    a.set("What is Scope 3?", {"answer": "Value chain.", "sources": [{"id": "scope3"}]}, scope=Scope(model="gpt-4"))
    a.set("short lived entry here", "x", ttl=1)
    a.close()
    b = make(path)
    got = b.get("what is carbon footprint")
    assert got == "A footprint is ..." and got.cached and got.model == "gpt-4"
    assert b.get("What is Scope 3?", scope=Scope(model="gpt-4")) == {"answer": "Value chain.",
                                                                    "sources": [{"id": "scope3"}]}
    assert b.get("What is Scope 3?") is None  # still scoped after the restart
    assert b.stats()["cost_saved"] == 0.01 and b.stats()["hits"] == 2
    later = make(path, clock=lambda: 10 ** 10)
    assert later.get("short lived entry here") is None and later.get("What is carbon footprint?") is None


def test_changes_in_one_instance_reach_the_other(tmp_path):
    path = tmp_path / "cache.sqlite"
    a, b = make(path), make(path)
    a.set("first shared question", "one")
    assert b.get("first shared question") == "one"
    b.set("second shared question", "two")
    assert a.get("second shared question") == "two" and len(a) == 2
    assert a.invalidate_pattern("second*") == 1
    assert b.get("second shared question") is None and len(b) == 1
    b.clear()
    assert a.get("first shared question") is None


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from glwork.cache import HashingEmbedder, SemanticCacheManager
    path, tag, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    cache = SemanticCacheManager(0.9, path=path, embedder=HashingEmbedder(), max_entries=10_000)
    while not go.exists():
        time.sleep(0.005)
    for i in range(n):
        cache.set(f"process {tag} asks question number {i} about topic {tag}{i}", f"{tag}-{i}")
        cache.get(f"process {tag} asks question number {i // 2} about topic {tag}{i // 2}")
    print(len(cache))
""")


def test_two_processes_writing_lose_nothing(tmp_path):
    path, go, n = tmp_path / "shared.sqlite", tmp_path / "go", 40
    watcher = make(path)  # open before the writers, reads their rows afterwards
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, str(n), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("A", "B")]
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    fresh = make(path)
    assert len(fresh) == 2 * n
    for tag in ("A", "B"):
        for i in range(n):
            q = f"process {tag} asks question number {i} about topic {tag}{i}"
            assert fresh.get(q) == f"{tag}-{i}"
            assert watcher.get(q) == f"{tag}-{i}"
    assert len(watcher) == 2 * n


def test_corrupt_file_is_moved_aside(tmp_path):
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.warns(RuntimeWarning, match="moved to cache.sqlite.corrupt-"):
        cache = make(path)
    aside = list(tmp_path.glob("cache.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    cache.set("does it still work?", "yes")
    assert make(path).get("does it still work?") == "yes"


def test_newer_schema_is_moved_aside(tmp_path):
    path = tmp_path / "cache.sqlite"
    make(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.warns(RuntimeWarning, match="schema version"):
        cache = make(path)
    assert len(cache) == 0 and list(tmp_path.glob("cache.sqlite.corrupt-*"))


def test_damage_while_open_is_survived(tmp_path):
    path = tmp_path / "cache.sqlite"
    cache = make(path)
    cache.set("a question before the damage", "x")
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE entries")
    with pytest.warns(RuntimeWarning, match="could not be read"):
        assert cache.get("a question before the damage") is None
    cache.set("a question after the damage", "y")
    assert cache.get("a question after the damage") == "y"
    assert list(tmp_path.glob("cache.sqlite.corrupt-*"))


def test_another_applications_database_is_left_alone(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
    with pytest.raises(ConfigurationError, match="another application"):
        make(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID
        assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
    with pytest.raises(ConfigurationError, match="directory"):
        make(tmp_path)


def test_entries_of_another_embedding_model_are_not_used(tmp_path):
    path = tmp_path / "cache.sqlite"
    make(path).set("a question embedded one way", "x")

    class Other(HashingEmbedder):
        model_name = "other-model"

    other = make(path, embedder=Other())
    assert len(other) == 0 and other.get("a question embedded one way") is None
    assert make(path).get("a question embedded one way") == "x"  # kept for its own model


def test_file_uses_wal_and_a_version(tmp_path):
    path = tmp_path / "cache.sqlite"
    make(path).set("q text", "x")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
        assert db.execute("SELECT length(vector) FROM entries").fetchone()[0] == 64 * 4


def test_threads_share_one_manager(tmp_path):
    cache = make(Path(tmp_path) / "cache.sqlite")
    errors = []

    def work(k):
        try:
            for i in range(25):
                cache.set(f"thread {k} question {i} words", i)
                assert cache.get(f"thread {k} question {i} words") == i
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) == 100
