"""Citation mode: check the model's [n] markers, and attribute sentences when it gave none.

Every [n] left in an answer names a passage that was in the prompt: unresolvable markers are
removed (and reported). Small local models often ignore the instruction to cite; then each answer
sentence gets the passage it is most similar to (all-MiniLM-L6-v2 cosine >= ATTRIBUTE_MIN), and the
response's metadata says the citations were attributed by glwork, not written by the model.
"""
import re

from ..embeddings.batch import normalise
from .chunking import sentence_bounds, split_sentences

MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
ATTRIBUTE_MIN = 0.5


class Citations(list):
    """The citation lines; print() shows one per line, as in the workshop text."""

    def __str__(self):
        return "\n".join(self)


def _lines(numbers, passages):
    return Citations(f"[{n}] {passages[n - 1]['chunk_id']}" for n in numbers)


def resolve_citations(answer, passages):
    """Keep [n] markers that name a passage, drop the others; returns (answer, citations, dropped)."""
    seen, dropped = [], []

    def fix(m):
        nums = [int(x) for x in re.split(r"\s*,\s*", m.group(1))]
        good = [n for n in nums if 1 <= n <= len(passages)]
        dropped.extend(n for n in nums if n not in good)
        seen.extend(n for n in good if n not in seen)
        return "".join(f"[{n}]" for n in good)

    fixed = MARKER.sub(fix, answer)
    if dropped:
        fixed = re.sub(r"[ \t]+([.,;:!?])", r"\1", fixed)   # no space left before punctuation
    return fixed, _lines(seen, passages), sorted(set(dropped))


def _sentence_spans(text):
    bounds = sentence_bounds(text)
    for a, b in zip(bounds, bounds[1:]):
        body = text[a:b].rstrip()
        if len(body.strip()) >= 12:       # skip list bullets, headings like "(a)"
            yield a + (len(text[a:b]) - len(text[a:b].lstrip())), a + len(body)


def attribute(answer, passages, embedder):
    """Add [n] after each answer sentence that closely matches passage n; returns (answer, citations)."""
    spans = list(_sentence_spans(answer))
    if not spans or not passages:
        return answer, Citations()
    owners, sents = [], []
    for n, p in enumerate(passages, 1):
        for s in split_sentences(p["content"]) or [p["content"]]:
            owners.append(n)
            sents.append(s)
    vecs = normalise(embedder.encode([answer[a:b] for a, b in spans] + sents))   # any embedder: cosines
    ans, psg = vecs[:len(spans)], vecs[len(spans):]
    sims = ans @ psg.T
    out = answer
    for (a, b), row in reversed(list(zip(spans, sims))):
        best = int(row.argmax())
        if row[best] < ATTRIBUTE_MIN:
            continue
        n = owners[best]
        cut = b
        while cut > a and out[cut - 1] in ".!?:;…":   # before the whole run: "emissions[1]...", not "..[1]."
            cut -= 1
        out = out[:cut] + f"[{n}]" + out[cut:]     # "... emissions[1]." as in the workshop
    order = []
    for m in MARKER.finditer(out):
        n = int(m.group(1))
        if n not in order:
            order.append(n)
    return out, _lines(order, passages)
