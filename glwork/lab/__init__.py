"""The hands-on lab (workshop Part 6) and the homework: checks that need no instructor.

    glwork.lab.check_step(2, agent)     # what is right and wrong in step 2, in plain words
    glwork.lab.grade_homework(agent)    # the homework's score, requirement by requirement
    glwork.lab.check("01.second_tool", session, response)   # a part notebook's "Your turn" exercise
"""
from .. import config as _config
from ..cache import load_precision_curves, plot_precision_recall, side_by_side
from ..cache.plots import operating_points
from ..rag.chunking import split_text  # the notebooks' one public place for it
from ..rag.corpus import load_carbon_corpus
from ..tokens import estimate_tokens  # the notebooks' one public place for the offline count
from .answers import check_answer
from .checks import check_step, passed
from .exercises import check, exercises
from .faults import FakeClock, retry_table, retry_timeline, scripted_faults
from .grader import grade_homework
from .monitor import calls_table, latency_note
from .prompts import document_text, format_rag_results, load_entire_database, prompt_costs, truncate_prompt
from .rag_view import (
    RETRIEVAL_QUESTIONS,
    alpha_sweep,
    chunking_table,
    chunks_of,
    cited_sources,
    compare_search,
    corpus_overview,
    filter_table,
    hit_at_k,
    rank_of,
    rerank_table,
    scifact_chart,
    scifact_results,
    scifact_table,
    top_k_table,
)
from .report import Grade, GradeItem, StepCheck
from .show import fact_card, one_line, origin, show_answer, sources_table
from .spread import answer_spread

__all__ = ["check_step", "passed", "grade_homework", "lab_mode", "Grade", "GradeItem", "StepCheck", "check",
           "exercises", "check_answer", "fact_card", "one_line", "origin", "show_answer", "sources_table",
           "scripted_faults", "FakeClock", "retry_table", "retry_timeline",
           # Part 2 (RAG): the corpus, chunking, and retrieval tables
           "load_carbon_corpus", "split_text", "corpus_overview", "compare_search", "cited_sources", "rank_of",
           "alpha_sweep", "top_k_table", "chunking_table", "chunks_of", "rerank_table", "filter_table", "hit_at_k",
           "RETRIEVAL_QUESTIONS", "scifact_results", "scifact_table", "scifact_chart",
           # Parts 5 and 7 (monitoring, best practices): calls and their cost, the text's prompt helpers
           "calls_table", "latency_note", "answer_spread", "estimate_tokens", "document_text",
           "load_entire_database", "format_rag_results", "truncate_prompt", "prompt_costs",
           # Part 3's extra: the semantic cache measured on labelled question pairs
           "load_precision_curves", "plot_precision_recall", "side_by_side", "operating_points"]


def lab_mode(mode: str | None = None) -> str:
    """The mode of the lab and homework notebooks: `mode` if given, else live with a key, else local.

    Their cells are the attendee's own code, so there is nothing to replay: without a key, the
    agent talks to the embedded local model (GLWORK_MODE=live or local is respected; replay and
    record, which need recorded traffic, fall back to this choice).
    """
    if mode:
        return mode
    explicit = _config.explicit_mode()
    if explicit in ("live", "local"):
        return explicit
    return "live" if any(_config.has_key(p) for p in _config.PROVIDER_KEYS) else "local"
