"""Part 2 (RAG) exercises: retrieval settings, a grounded cited answer, the RAG tuner."""
import re

from . import exercise, given

E1_6 = "esrs-e1-6"
E1_6_QUESTION = "Which emissions must a company disclose in metric tonnes of CO2 equivalent?"
DIESEL_QUESTION = "How do we report the diesel burned by our own fleet of trucks?"
MOBILE = "ghg-scope1-02-mobile-combustion"
RETRIEVE_ARGS = ("search_type", "alpha", "filters", "top_k")


def _same(a, b):
    return " ".join(str(a).lower().split()) == " ".join(str(b).lower().split())


def _top(sources, n=3):
    return ", ".join(f"{s['chunk_id']} ({s['score']:.3f})" for s in sources[:n]) or "nothing"


def _metadata_of(engine, doc_id):
    entry = getattr(engine, "documents", {}).get(doc_id)
    return entry["metadata"] if entry else None


def _values(engine, key):
    """The values a metadata field takes in the engine's documents (for 'did you mean' advice)."""
    return sorted({str(d["metadata"][key]) for d in getattr(engine, "documents", {}).values() if key in d["metadata"]})


def _filter_advice(engine, filters):
    """Why a filter matched nothing, said with the values the documents really have."""
    keys = set()

    def walk(f):
        for k, v in (f.items() if isinstance(f, dict) else []):
            if k in ("$and", "$or") and isinstance(v, list):
                for sub in v:
                    walk(sub)
            elif not k.startswith("$"):
                keys.add(k)
    walk(filters)
    hints = []
    for key in sorted(keys):
        values = _values(engine, key)
        if not values:
            hints.append(f"no document has a {key!r} field")
        else:
            shown = ", ".join(repr(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
            hints.append(f"{key!r} takes the values {shown} (values compare exactly: case and type count)")
    return "; ".join(hints)


@exercise("02.e1_6_first", "a filter or search setting that ranks an ESRS E1-6 passage first")
def e1_6_first(found, engine, question, settings):
    from ...errors import LLMError
    from ...rag.engine import RAGEngine
    if not given(found, engine, RAGEngine, "the first argument is a {}, not the RAGEngine: "
                                         "check('02.e1_6_first', rag, question, settings)"):
        return
    if E1_6 not in getattr(engine, "documents", {}):
        found.fail("the engine has no document esrs-e1-6: index the carbon corpus, rag.index_documents(carbon)")
        return
    if not _same(question, E1_6_QUESTION):
        found.fail(f"keep the question as given ({E1_6_QUESTION!r}) and change only the settings: a question "
                   f"that names E1-6 would find it by its words alone")
        return
    if not isinstance(settings, dict):
        found.fail(f"settings should be a dict of retrieve() arguments, e.g. {{'search_type': 'hybrid'}}, "
                   f"not a {type(settings).__name__}")
        return
    unknown = [k for k in settings if k not in RETRIEVE_ARGS]
    if unknown:
        hint = " (the argument is 'filters', plural)" if "filter" in unknown else ""
        found.fail(f"retrieve() has no argument {', '.join(map(repr, unknown))}{hint}: use {', '.join(RETRIEVE_ARGS)}")
        return
    args = {"top_k": 3, **settings}
    try:
        sources = engine.retrieve(question, **args)
    except LLMError as exc:
        found.fail(f"retrieve() refused these settings: {exc}")
        return
    filters = settings.get("filters")
    if not sources:
        found.fail(f"the filter {filters} matches no document: {_filter_advice(engine, filters)}. "
                   f"E1-6's metadata: {_metadata_of(engine, E1_6)}")
        return
    first = sources[0]
    found.info(f"top 3: {_top(sources)}")
    if first["id"] != E1_6:
        kind = args.get("search_type", engine.search_type)
        if filters:
            advice = ("the filter lets E1-6 through, but another passage still scores higher: narrow it "
                      f"(E1-6's metadata: {_metadata_of(engine, E1_6)}) or change the search type too")
            from ...rag.filters import compile_filter
            if not compile_filter(filters)(_metadata_of(engine, E1_6)):
                advice = f"the filter keeps E1-6 out: E1-6's metadata is {_metadata_of(engine, E1_6)}"
        elif kind == "keyword":
            advice = ("keyword search matches words like 'tonnes' and 'CO2' that many ESRS passages share; "
                      "blend it with meaning: search_type='hybrid'")
        elif kind == "hybrid":
            alpha = args.get("alpha", engine.alpha)
            advice = (f"at alpha={alpha:g} the keyword side (weight {1 - alpha:g}) puts {first['id']} first: "
                      f"give meaning more weight (a higher alpha), or add a filter")
        else:
            advice = ("semantic search puts the workshop's doc2 or a GHG category first: try search_type="
                      "'hybrid', or a filter on the metadata that only the ESRS documents have")
        found.fail(f"{first['chunk_id']} comes first, not an E1-6 passage: {advice}")
        return
    found.ok(f"{first['chunk_id']} comes first ({first['score']:.3f})")
    if filters and all(s["id"] == E1_6 for s in sources):
        found.info("your filter leaves only E1-6, so nothing else can win: that works when you already know "
                   "where the answer is. Can you do it with a broader filter, or with search settings alone?")
    elif not filters:
        found.info("no filter needed: the search settings alone ranked it first")


@exercise("02.scope2_cited", "a cited answer on Scope 2 from Scope 2 documents only")
def scope2_cited(found, response):
    from ...rag.engine import RAGResponse
    if not given(found, response, RAGResponse, "pass the RAGResponse of rag.query(...), not a {}"):
        return
    sources = response.sources
    if not sources:
        found.fail("nothing was retrieved: does the filter match any document? GHG documents carry scope as a "
                   "number, e.g. filters={'scope': 2} (not '2' or 'Scope 2')")
        return
    scopes = [s["metadata"].get("scope") for s in sources]
    other = [s["chunk_id"] for s, sc in zip(sources, scopes) if sc != 2]
    if other:
        found.fail(f"{len(other)} of the {len(sources)} passages the model read are not Scope 2 documents "
                   f"({', '.join(other[:3])}{', ...' if len(other) > 3 else ''}): the Scope 3 text 'not covered by "
                   f"Scope 1 or Scope 2' misleads a small model. Add filters={{'scope': 2}} to the query")
    else:
        found.ok(f"all {len(sources)} passages come from Scope 2 documents "
                 f"({', '.join(sorted({s['id'] for s in sources}))})")
    if not response.citations:
        found.fail("the answer cites nothing: create the engine with citation_mode=True, e.g. "
                   "RAGEngine.load(store, citation_mode=True)")
        return
    found.ok(f"citations: {'; '.join(response.citations)}")
    by = (response.metadata or {}).get("citations_by", "")
    if by.startswith("glwork"):
        found.info("the model wrote no [n] markers itself; glwork attributed its sentences by similarity")
    answer = str(response.answer)
    if re.search(r"not covered by scope 1 or scope 2", answer, re.I):
        found.fail("the answer repeats the Scope 3 definition ('not covered by Scope 1 or Scope 2'): keep Scope 3 "
                   "passages out with the filter")
    elif not re.search(r"scope\s*2", answer, re.I) or not re.search(r"electricity|heat|steam|energy", answer, re.I):
        found.fail(f"the answer does not say what Scope 2 covers (purchased electricity, heat or steam): "
                   f"{answer[:120]!r}. Read it against the cited passage; top_k=2 or 3 keeps the context focused")
    else:
        found.ok("the answer says what Scope 2 covers")


@exercise("02.tuner_scope1", "tune retrieval so diesel in the company's own trucks finds Scope 1 first")
def tuner_scope1(found, tuner):
    from ...widgets.rag_tuner import RAGTuner
    if not given(found, tuner, RAGTuner, "pass the RAGTuner you made (tuner), not a {}"):
        return
    if not _same(tuner.query.value, DIESEL_QUESTION):
        found.fail(f"keep the tuner's query as {DIESEL_QUESTION!r} and turn the knobs instead")
        return
    if tuner.error is not None:
        found.fail(f"the tuner shows an error: {tuner.error}")
        return
    s = tuner.settings()
    rows = tuner.rows
    if not rows:
        found.todo("the tuner has no results yet: run the tuner cell, then this one")
        return
    found.info(f"settings: search_type={s['search_type']}" + (f", alpha={s['alpha']}" if s["search_type"] == "hybrid"
                                                             else "") + (", re-rank on" if s["rerank"] else ""))
    first = rows[0]["chunk_id"]
    if first.split(":")[0] == MOBILE:
        found.ok(f"{first} comes first: diesel burned in the company's own vehicles is Scope 1 (Mobile Combustion)")
        if s["search_type"] == "keyword":
            found.info("keyword search got it from 'fleet' and 'trucks'; would hybrid search also find it for "
                       "a paraphrase like 'fuel for our delivery vans'?")
        return
    if s["search_type"] == "semantic":
        advice = ("semantic search is drawn to the Scope 3 transport categories (all about trucks and freight): "
                  "switch search_type to hybrid so the words 'fleet' and 'trucks' count too")
    elif s["search_type"] == "hybrid":
        advice = f"at alpha={s['alpha']} meaning still outweighs the exact words: lower alpha"
    else:
        advice = "look at the keyword column: which words does the first chunk match?"
    found.fail(f"{first} comes first, a Scope {first.split('-')[1][-1] if first.startswith('ghg-') else '?'} "
               f"passage, not Mobile Combustion: {advice}")
