"""The prompt helpers of workshop Part 7 (best practices), as the text names them.

    context = load_entire_database()          # "Bad": the whole carbon corpus, every time
    context = format_rag_results(rag_response)  # "Good": the passages RAG retrieved, numbered
    text = document_text("ghg-scope3-06-business-travels")   # one document of the corpus, in full
    shorter = truncate_prompt(prompt)           # what the error handler sends after context_length_exceeded
    prompt_costs({"whole corpus": p1, "RAG top-3": p2}, model="gpt-4", max_tokens=80)   # side by side

Token counts are the kit's offline estimate (glwork.tokens: ~1.3 tokens per English word, no
tokenizer download); the answering model reports its exact count in each reply's usage.
"""
import os

from ..tokens import estimate_tokens

QUESTION_MARK = "\n\nQuestion: "
LOCAL_CONTEXT = "GLWORK_LOCAL_N_CTX"


def load_entire_database(documents=None):
    """Every document of the carbon corpus (or of `documents`), one after the other, with its title."""
    if documents is None:
        from ..rag.corpus import load_carbon_corpus
        documents = load_carbon_corpus()
    return "\n\n".join(f"## {d.get('metadata', {}).get('title', d.get('id', ''))}\n{d['content']}"
                       for d in documents)


def document_text(doc_id):
    """The full text of one carbon-corpus document, e.g. document_text("ghg-scope3-06-business-travels")."""
    from ..rag.corpus import load_carbon_corpus
    docs = {d["id"]: d for d in load_carbon_corpus()}
    if doc_id not in docs:
        import difflib
        near = difflib.get_close_matches(str(doc_id), list(docs), n=3, cutoff=0.6) or list(docs)[:5]
        raise ValueError(f"No corpus document {doc_id!r}. Did you mean {', '.join(map(repr, near))}? "
                         f"(load_carbon_corpus() lists them all.)")
    return docs[doc_id]["content"]


def format_rag_results(rag_response):
    """The passages a RAG query retrieved, numbered [1], [2], ... as the context of a prompt.
    Takes the RAGResponse of rag.query(...) or the list of sources of rag.retrieve(...)."""
    sources = rag_response if isinstance(rag_response, list) else getattr(rag_response, "sources", None)
    if sources is None or not all(isinstance(s, dict) and "content" in s for s in sources):
        raise TypeError("format_rag_results() takes the RAGResponse of rag.query(...) or the sources of "
                        f"rag.retrieve(...), not {type(rag_response).__name__}.")
    return "\n\n".join(f"[{n}] ({s['chunk_id']})\n{s['content']}" for n, s in enumerate(sources, 1))


def truncate_prompt(prompt, max_prompt_tokens=600):
    """Keep the question and the first paragraphs of its context that fit `max_prompt_tokens` (estimated).

    The question is the text after the last "Question: " line; without one, the prompt's start is kept.
    Blind truncation fixes the error, not the answer: the paragraphs that answer may be the ones cut.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"truncate_prompt() takes the prompt text, not {type(prompt).__name__}.")
    context, sep, question = prompt.rpartition(QUESTION_MARK)
    if not sep:
        context, question = prompt, ""
    budget = max_prompt_tokens - estimate_tokens(sep + question)
    kept = []
    for paragraph in context.split("\n\n"):
        budget -= estimate_tokens(paragraph)
        if budget < 0:
            break
        kept.append(paragraph)
    return "\n\n".join(kept) + sep + question


def local_context_window():
    """The context window (tokens) the kit's local model runs with."""
    return int(os.environ.get(LOCAL_CONTEXT, "4096"))


def prompt_costs(prompts, model, max_tokens):
    """{label: prompt} side by side: estimated tokens, cost per question and per 1,000 at `model`'s
    price (plus `max_tokens` of answer), and whether each fits `model`'s and the local model's window."""
    import pandas as pd

    from ..monitoring import pricing
    from ..response import Usage
    price = pricing.lookup(model)
    window = price.context_window if price else None
    local = local_context_window()
    rows = []
    for label, prompt in prompts.items():
        tokens = estimate_tokens(prompt)
        cost = pricing.cost_of(Usage(input_tokens=tokens, output_tokens=max_tokens), model) if price else None
        rows.append({"prompt": label, "tokens (estimate)": tokens,
                     "$ per question": None if cost is None else round(cost, 4),
                     "$ per 1,000 questions": None if cost is None else round(cost * 1000, 2),
                     f"fits {model} ({window:,})" if window else f"fits {model} (window unknown)":
                         None if window is None else tokens + max_tokens <= window,
                     f"fits the local model ({local:,})": tokens + max_tokens <= local})
    return pd.DataFrame(rows).set_index("prompt")
