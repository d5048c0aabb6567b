"""Shared pieces of the RAG tests: a small slice of the carbon corpus and a counting embedder."""
from glwork.rag.corpus import load_carbon_corpus

# Documents the ranking tests ask about, plus neighbours that compete with them.
SMALL_IDS = (
    "ghg-scope1-01-stationary-combustion", "ghg-scope1-03-fugitive-emissions",
    "ghg-scope2-01-purchased-electricity", "ghg-scope3-06-business-travels",
    "ghg-scope3-07-employee-commuting", "ghg-scope3-14-franchises", "ghg-scope3-15-investments",
    "esrs-e1-6", "esrs-e1-8", "esrs-e1-5",
)
MAX_CHARS = 1500   # keeps the corpus to ~25 chunks: embedding it takes a second or two


def small_corpus():
    docs = {d["id"]: d for d in load_carbon_corpus()}
    out = []
    for doc_id in SMALL_IDS:
        d = docs[doc_id]
        out.append({"id": doc_id, "content": d["content"][:MAX_CHARS], "metadata": d["metadata"]})
    return out


class CountingEmbedder:
    """Wraps an engine's embedder and records every batch it encodes."""

    def __init__(self, inner):
        self.inner = inner
        self.batches = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts):
        texts = list(texts)
        self.batches.append(texts)
        return self.inner.encode(texts)

    @property
    def texts(self):
        return [t for b in self.batches for t in b]
