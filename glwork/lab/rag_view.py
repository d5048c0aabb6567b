"""Tables and charts for the RAG notebooks (Part 2 and its extras), so each cell shows one idea.

    corpus_overview(docs)                          what the carbon corpus holds, by source
    compare_search(rag, question, settings)        the top chunks of several search settings side by side
    cited_sources(response)                        the passages a cited answer points to
    hit_at_k(methods, questions)                   rank of the right document per question and method
    scifact_results() / scifact_chart(results)     the stored SciFact benchmark run

pandas and plotly are imported inside the functions: `import glwork.lab` stays light.
"""
import json
from pathlib import Path

from ..errors import ConfigurationError

SCIFACT_RESULTS = Path("benchmarks") / "data" / "bench_rag_results.json"
# Fourteen questions written for the carbon corpus, each with the document(s) that answer it: most
# rephrased away from the document's words, a few using its exact terms. A smoke test, not a benchmark.
RETRIEVAL_QUESTIONS = [
    ("How do we count emissions from staff flights and hotel nights?", ["ghg-scope3-06-business-travels"]),
    ("Emissions from employees driving to the office every day", ["ghg-scope3-07-employee-commuting"]),
    ("Refrigerant leaking from our air-conditioning units", ["ghg-scope1-03-fugitive-emissions"]),
    ("Natural gas burned in boilers and furnaces we own", ["ghg-scope1-01-stationary-combustion"]),
    ("Diesel used by the company's own fleet of trucks", ["ghg-scope1-02-mobile-combustion"]),
    ("Grid electricity: location-based versus market-based method", ["ghg-scope2-01-purchased-electricity"]),
    ("Loans and equity holdings of a bank: financed emissions", ["ghg-scope3-15-investments"]),
    ("What happens to our products once customers throw them away?",
     ["ghg-scope3-12-end-of-life-treatment-of-sold-products"]),
    ("Disclosure of an internal carbon price used in decisions", ["esrs-e1-8"]),
    ("Carbon credits bought to offset emissions", ["esrs-e1-7"]),
    ("E1-5 energy mix: share of renewable sources", ["esrs-e1-5"]),
    ("Plan to make the business model compatible with limiting warming to 1.5 °C", ["esrs-e1-1"]),
    ("Assets at material physical risk and their financial effects",
     ["esrs-e1-9", "esrs-e1-9-part2", "esrs-e1-9-part3"]),
    ("Emission reduction targets for 2030 and 2050", ["esrs-e1-4", "esrs-e1-4-part2"]),
]


def _ranked(rows, name="rank"):
    import pandas as pd
    return pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name=name))


def corpus_overview(documents):
    """Documents and characters per source, type and date (the metadata filters select on)."""
    import pandas as pd
    rows = [{"source": d["metadata"].get("source", "-"), "type": d["metadata"].get("type", "-"),
             "date": d["metadata"].get("date", "-"), "characters": len(d["content"])} for d in documents]
    return (pd.DataFrame(rows).groupby(["source", "type", "date"])
            .agg(documents=("characters", "size"), characters=("characters", "sum")))


def compare_search(engine, question, settings, k=5):
    """One column per retrieval setting ({name: retrieve() keyword arguments}): its top-k chunks and scores."""
    columns = {}
    for name, kwargs in settings.items():
        found = [f"{s['chunk_id']} ({s['score']:.3f})" for s in engine.retrieve(question, top_k=k, **kwargs)]
        columns[name] = found + ["-"] * (k - len(found))   # keyword search and filters may find fewer
    return _ranked([dict(zip(columns, row)) for row in zip(*columns.values())])


def cited_sources(response):
    """The sources of a citation-mode answer that its citations point to, in citation order."""
    by_chunk = {s["chunk_id"]: s for s in response.sources}
    chunks = [line.split()[1] for line in response.citations if len(line.split()) > 1]
    return [by_chunk[c] for c in dict.fromkeys(chunks) if c in by_chunk]


def rank_of(engine, question, doc_ids, k=10, **settings):
    """Rank (1-based) of the first chunk from one of `doc_ids` in the top k; None if not there."""
    doc_ids = [doc_ids] if isinstance(doc_ids, str) else list(doc_ids)
    found = engine.retrieve(question, top_k=k, **settings)
    return next((rank for rank, s in enumerate(found, 1) if s["id"] in doc_ids), None)


def alpha_sweep(engine, question, doc_id, alphas=(1.0, 0.9, 0.7, 0.5, 0.3, 0.0), k=10):
    """Hybrid search at each alpha: where `doc_id` ranks, and what comes first."""
    import pandas as pd
    rows = []
    for alpha in alphas:
        found = engine.retrieve(question, top_k=k, search_type="hybrid", alpha=alpha)
        rank = next((r for r, s in enumerate(found, 1) if s["id"] == doc_id), None)
        rows.append({"alpha": alpha, f"rank of {doc_id} (top {k})": rank,
                     "first result": found[0]["chunk_id"], "its score": round(found[0]["score"], 3)})
    return pd.DataFrame(rows).set_index("alpha").astype({f"rank of {doc_id} (top {k})": "Int64"})


def top_k_table(engine, question, doc_id, ks=(1, 3, 5, 10)):
    """What each top_k puts in the prompt: documents, chunks of `doc_id`, characters, lowest score."""
    import pandas as pd
    rows = []
    for k in ks:
        found = engine.retrieve(question, top_k=k)
        rows.append({"top_k": k, "documents": len({s["id"] for s in found}),
                     f"chunks of {doc_id}": sum(s["id"] == doc_id for s in found),
                     "characters in the prompt": sum(len(s["content"]) for s in found),
                     "lowest score": round(found[-1]["score"], 3)})
    return pd.DataFrame(rows).set_index("top_k")


def chunking_table(documents, sizes=((250, 50), (500, 100), (1000, 0), (1000, 200), (2000, 400))):
    """What chunk_size / chunk_overlap (characters) make of `documents`: chunks, lengths, text embedded."""
    import pandas as pd

    from ..rag.chunking import split_text
    total = sum(len(d["content"]) for d in documents)
    rows = []
    for size, overlap in sizes:
        lengths = [len(p.text) for d in documents for p in split_text(d["content"], size, overlap)]
        rows.append({"chunk_size": size, "chunk_overlap": overlap, "chunks": len(lengths),
                     "mean characters": round(sum(lengths) / len(lengths)), "longest": max(lengths),
                     "characters embedded / corpus": round(sum(lengths) / total, 2)})
    return pd.DataFrame(rows).set_index(["chunk_size", "chunk_overlap"])


def chunks_of(document, chunk_size=1000, chunk_overlap=200):
    """A document's chunks: character span, length, and the text each shares with the one before."""
    from ..rag.chunking import split_text
    from .show import one_line
    pieces = split_text(document["content"], chunk_size, chunk_overlap)
    rows = []
    for n, p in enumerate(pieces):
        shared = max(0, pieces[n - 1].end - p.start) if n else 0
        rows.append({"chunk": f"{document['id']}:chunk{n + 1}", "characters": f"{p.start}-{p.end}",
                     "length": len(p.text), "shared with the previous chunk": shared,
                     "starts with": one_line(p.text, 60)})
    return _ranked(rows, "chunk")


def rerank_table(first_stage, reranking, question, chars=70):
    """The re-ranked top chunks, each with its rank in the first stage (`first_stage` engine, top 20)."""
    from .show import one_line
    was = {s["chunk_id"]: r for r, s in enumerate(first_stage.retrieve(question, top_k=20), 1)}
    return _ranked([{"chunk": s["chunk_id"], "score after re-ranking": round(s["score"], 3),
                     "rank before": was.get(s["chunk_id"]), "passage": one_line(s["content"], chars)}
                    for s in reranking.retrieve(question)], "rank after")


def filter_table(engine, question, filters, k=2):
    """For each filter, the top-k chunks it lets through."""
    import pandas as pd
    rows = []
    for f in filters:
        found = [s["chunk_id"] for s in engine.retrieve(question, top_k=k, filters=f)]
        found += ["-"] * (k - len(found))
        rows.append({"filters": json.dumps(f), **{f"#{n}": c for n, c in enumerate(found, 1)}})
    return pd.DataFrame(rows).set_index("filters")


def hit_at_k(methods, questions=None, k=10):
    """(summary, ranks) for {name: (engine, retrieve settings)} over [(question, right doc ids)]:
    ranks of the first right chunk (NA if not in the top k), and hit@1, hit@3 and MRR per method."""
    import pandas as pd
    questions = RETRIEVAL_QUESTIONS if questions is None else questions
    ranks = pd.DataFrame({name: [rank_of(engine, q, right, k, **settings) for q, right in questions]
                          for name, (engine, settings) in methods.items()},
                         index=pd.Index([q for q, _ in questions], name="question")).astype("Int64")
    missed = ranks.isna()   # not in the top k: a miss (a mean would skip it)
    summary = pd.DataFrame({"hit@1": ((ranks == 1) & ~missed).mean(), "hit@3": ((ranks <= 3) & ~missed).mean(),
                            "MRR": (1 / ranks.astype(float)).fillna(0).mean()}).round(3)
    return summary, ranks


def scifact_results(path=None):
    """The last run of benchmarks/bench_rag.py (SciFact nDCG@10 and recall@100 per retrieval method)."""
    if path is None:
        bases = [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]]
        path = next((b / SCIFACT_RESULTS for b in bases if (b / SCIFACT_RESULTS).is_file()), None)
        if path is None:
            raise ConfigurationError(f"{SCIFACT_RESULTS} was not found: run the notebook from the kit's folder, "
                                     f"or run `python benchmarks/bench_rag.py` to make it.")
    return json.loads(Path(path).read_text())


def scifact_table(results):
    """nDCG@10, recall@100 and latency per method, as measured."""
    import pandas as pd
    return pd.DataFrame(results["rows"]).set_index("method")


_COLOURS = {"keyword": "#ff7f0e", "semantic": "#1f77b4", "hybrid": "#2ca02c", "rrf": "#17becf",
            "re-rank": "#9467bd", "published": "#bbbbbb"}


def _family(method):
    return next((f for f in ("re-rank", "rrf", "hybrid", "semantic", "keyword") if f in method), "published")


def scifact_chart(results):
    """A bar chart of nDCG@10 per method, next to the published figures (show it with widgets.figure)."""
    import plotly.graph_objects as go
    ref = results.get("reference", {})
    names = [f"published: {n}" for n in ref] + [r["method"] for r in results["rows"]]
    values = list(ref.values()) + [r["ndcg@10"] for r in results["rows"]]
    colours = [_COLOURS["published"]] * len(ref) + [_COLOURS[_family(r["method"])] for r in results["rows"]]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colours,
                           text=[f"{v:.3f}" for v in values], textposition="outside"))
    target = results.get("targets", {}).get("ndcg_rerank")
    if target:
        fig.add_vline(x=target, line_dash="dot", annotation_text=f"target {target:.2f}")
    fig.update_layout(title="SciFact (BEIR test, 300 queries): nDCG@10 by retrieval method",
                      xaxis=dict(title="nDCG@10", range=[0.6, 0.77]), yaxis=dict(autorange="reversed"),
                      height=520, margin=dict(l=300, r=40, t=60, b=50), template="plotly_white")
    return fig
