"""The entries in memory: a mirror of the store's rows (without the answers) plus their vectors.

The store (SQLite) is the truth; this mirror is rebuilt from it at start and brought up to date
when another process has committed (`sync`). Answers stay in SQLite and are read on a hit.
"""
import json

from ..errors import ConfigurationError
from ..security import get_logger
from .scoped_index import ScopedIndex

log = get_logger(__name__)


class Entry:
    """One cached question, as kept in memory (~300 bytes plus the vector in the index)."""

    __slots__ = ("scope", "query", "created", "last_access", "expires", "ttl", "cost", "tokens")

    def __init__(self, scope, query, created, last_access, expires, ttl, cost, tokens):
        self.scope, self.query, self.created, self.last_access = scope, query, created, last_access
        self.expires, self.ttl, self.cost, self.tokens = expires, ttl, cost, tokens

    def expired(self, now):
        return self.expires is not None and self.expires <= now


def _cosine(s):
    # float32 gives 0.99999994 for the same text: a threshold of 1.0 must still match it.
    return min(round(float(s), 6), 1.0)


def plain(text):
    """Case, spacing and end punctuation do not make another question."""
    return " ".join(text.lower().split()).rstrip(" ?!.")


class Entries:
    def __init__(self, store, model_name, keep_vectors):
        self.store, self.model_name, self.keep_vectors = store, model_name, keep_vectors
        self.reset()

    def reset(self):
        self.by_id = {}         # id -> Entry, for the entries this embedding model can search
        self.foreign = set()    # ids in the file made with another embedding model
        self.index = None       # created at the first vector (its dimension)

    def __len__(self):
        return len(self.by_id)

    def get(self, entry_id):
        return self.by_id.get(entry_id)

    def fits(self, dimension):
        """True if vectors of this dimension can join the index (creating it if need be)."""
        if self.index is None:
            self.index = ScopedIndex(dimension)
        return self.index.dimension == dimension

    # ---- reading the store ------------------------------------------------------------------------------
    def load(self, ids=None):
        """Read entries (all, or `ids`) from the store into memory and the index."""
        import numpy as np
        by_scope, other = {}, 0
        for row in self.store.meta_rows(ids, with_vectors=True):
            entry_id, scope, query, model, created, last_access, expires, ttl, cost, tokens, blob = row
            if model != self.model_name or blob is None or not self.fits(len(blob) // 4):
                self.foreign.add(entry_id)
                other += 1
                continue
            self.by_id[entry_id] = Entry(scope, query, created, last_access, expires, ttl, cost, tokens)
            ids_, vecs = by_scope.setdefault(scope, ([], []))
            ids_.append(entry_id)
            vecs.append(np.frombuffer(blob, dtype=np.float32))
        for scope, (ids_, vecs) in by_scope.items():
            self.index.add(scope, ids_, np.vstack(vecs))
        if other and ids is None:
            log.warning("%d cached entries in %s were embedded with another model than %s and are not used",
                        other, self.store.path, self.model_name)

    def sync(self):
        """Take in what other processes added or removed since we last looked."""
        if not self.store.changed_elsewhere():
            return
        on_disk = self.store.ids()
        self.drop([i for i in self.by_id if i not in on_disk])
        self.foreign &= on_disk
        new = on_disk - self.by_id.keys() - self.foreign
        if new:
            self.load(new)

    # ---- changes -------------------------------------------------------------------------------------
    def add(self, scope, rows, vectors, replace=()):
        """Insert rows (dicts without scope/vector) for `scope` in one transaction; ids in order."""
        info = json.dumps(scope.to_dict(), default=str, sort_keys=True)
        ids = []
        with self.store.transaction():
            for row, vec in zip(rows, vectors):
                ids.append(self.store.insert({**row, "scope": scope.key, "scope_info": info, "model": self.model_name,
                                              "vector": vec.tobytes() if self.keep_vectors else None}))
            if replace:
                self.store.delete(replace)
        self.drop(replace)
        for entry_id, row in zip(ids, rows):
            self.by_id[entry_id] = Entry(scope.key, row["query"], row["created"], row["last_access"],
                                         row["expires"], row["ttl"], row["cost"], row["tokens"])
        self.index.add(scope.key, ids, vectors)
        return ids

    def drop(self, ids):
        """Forget entries in memory (the caller has removed them from the store)."""
        by_scope = {}
        for entry_id in ids:
            self.foreign.discard(entry_id)
            entry = self.by_id.pop(entry_id, None)
            if entry is not None:
                by_scope.setdefault(entry.scope, []).append(entry_id)
        for scope, scope_ids in by_scope.items():
            self.index.remove(scope, scope_ids)

    def delete(self, ids):
        self.store.delete(ids)
        self.drop(ids)
        return len(ids)

    def purge_expired(self, now):
        """Delete every expired entry (any process's: the store's expiry is the one that counts)."""
        return self.delete(self.store.expired_ids(now))

    def expire(self, entry_id, now):
        """Delete one entry found expired; False if another process renewed it (sliding ttl)."""
        if self.store.delete_expired(entry_id, now):
            self.drop([entry_id])
            return True
        row = self.store.row(entry_id, "expires, last_access")
        if row is None:
            self.drop([entry_id])
        else:
            self.by_id[entry_id].expires, self.by_id[entry_id].last_access = row
        return False

    def touch(self, entry_id, now, sliding):
        entry = self.by_id[entry_id]
        entry.last_access = now
        if sliding and entry.ttl:
            entry.expires = now + entry.ttl
        self.store.touch(entry_id, now, entry.expires if sliding else None)

    def evict_beyond(self, max_entries):
        """Delete the least recently used entries (all scopes, all processes) beyond `max_entries`."""
        total = self.store.count() if self.keep_vectors else len(self.by_id) + len(self.foreign)
        if max_entries is None or total <= max_entries:
            return 0
        return self.delete(self.store.least_recently_used(total - max_entries))

    def delete_matching(self, match, scope_key=None):
        """Delete entries (any embedding model) whose (query, created) satisfy `match`."""
        return self.delete([i for i, s, q, created in self.store.queries()
                            if (scope_key is None or s == scope_key) and match(q, created)])

    # ---- search --------------------------------------------------------------------------------------
    def nearest(self, scope_key, vector, k):
        """[(id, cosine, Entry)] of the scope's k nearest entries, best first."""
        if not self._searchable(vector):
            return []
        ids, sims = self.index.search(scope_key, vector, k)
        return [(i, _cosine(s), self.by_id[i]) for i, s in zip(ids, sims) if i in self.by_id]

    def nearest_anywhere(self, vector, k):
        """[(id, cosine, Entry)] of the k nearest entries over all scopes."""
        if not self._searchable(vector):
            return []
        return [(i, _cosine(s), self.by_id[i]) for s, i, _ in self.index.search_all(vector, k) if i in self.by_id]

    def vector(self, entry_id):
        """The vector an entry was stored with (the guard's pair model reads it)."""
        return self.index.vector(self.by_id[entry_id].scope, entry_id)

    def _searchable(self, vector):
        if self.index is None:
            return False
        if vector.shape[0] != self.index.dimension:
            raise ConfigurationError(f"The embedder returned {vector.shape[0]}-dimensional vectors but this cache "
                                     f"holds {self.index.dimension}-dimensional ones: use the model it was built with.")
        return True

    def same_question(self, scope_key, vector, query):
        """Ids of this scope's entries for exactly this question (to replace them)."""
        target = plain(query)
        return [i for i, s, e in self.nearest(scope_key, vector, 3) if s > 0.999 and plain(e.query) == target]

    def same_questions(self, scope_key, queries):
        wanted = {plain(q) for q in queries}
        return [i for i, e in self.by_id.items() if e.scope == scope_key and plain(e.query) in wanted]
