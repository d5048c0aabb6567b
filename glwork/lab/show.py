"""Small display helpers the part notebooks share, so their cells show one idea each."""
import re

from ..response import source_label


def origin(response, provider=None):
    """Where an answer came from, in a few words: the recording, the local model (named), live."""
    return source_label(getattr(response, "source", None), provider or getattr(response, "provider", None),
                        getattr(response, "model", None), cached=bool(getattr(response, "cached", False)))


def show_answer(response, provider=None):
    """Print an answer (ChatResponse or RAGResponse) and one line on where it came from and its size."""
    usage = getattr(response, "usage", None)
    bits = [origin(response, provider)]
    if usage is not None:
        bits.append(f"{usage.input_tokens} tokens in, {usage.output_tokens} out")
    meta = getattr(response, "metadata", None) or {}
    if "context_passages" in meta:
        bits.append(f"{meta['context_passages']} passages in the prompt")
    print(str(response).strip())
    print(f"\n[{' · '.join(bits)}]")


def sources_table(sources, chars=90):
    """Retrieved passages as a table: rank, chunk, score, the start of the passage."""
    import pandas as pd
    rows = [{"chunk": s["chunk_id"], "score": round(s["score"], 3), "passage": one_line(s["content"], chars)}
            for s in sources]
    return pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="rank"))


def one_line(text, n=100):
    """A passage on one line, cut to n characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 1] + "…"


def fact_card(*doc_ids, about=None):
    """The opening paragraph of corpus documents, with their source: a short, citable context to put in
    a system message so a small model answers from the standard rather than from memory. `about`: take
    the paragraphs (or list items) that mention this phrase instead of the opening one."""
    from ..rag.corpus import load_carbon_corpus
    docs = {d["id"]: d for d in load_carbon_corpus()}
    if not doc_ids:
        raise ValueError("fact_card() needs document ids, e.g. fact_card('ghg-scope2-01-purchased-electricity').")
    parts = []
    for doc_id in doc_ids:
        if doc_id not in docs:
            near = [k for k in docs if doc_id.split("-")[0] in k][:5]
            raise ValueError(f"No corpus document {doc_id!r}; ids look like {near or list(docs)[:5]}.")
        d = docs[doc_id]
        paragraphs = [p.strip() for p in d["content"].split("\n\n") if p.strip()]
        title = paragraphs[0].lstrip("# ")
        if about:
            pieces = [line.strip(" -") for p in paragraphs[1:] for line in p.split("\n")
                      if about.lower() in line.lower()]
            if not pieces:
                raise ValueError(f"{doc_id} never mentions {about!r}.")
            body = " ".join(pieces)
        else:
            n = 1 if len(paragraphs) > 1 else 0
            body = paragraphs[n]
            while body.rstrip().endswith(":") and n + 1 < len(paragraphs):   # "... may arise from:" + its list
                n += 1
                body += " " + "; ".join(line.strip(" -*") for line in paragraphs[n].splitlines() if line.strip())
        body = re.sub(r"(?<=[a-z]{3})\d(?=[\s,.;])", "", body)   # footnote marks: "employees4 between"
        parts.append(f"{title}: {body} (source: data/carbon-corpus/{d['metadata']['file']})")
    return "\n".join(parts)
