"""The workshop's agent framework (`GL_COMMONS.infrastructure.agents` in the text).

`Agent` is the base class; `CarbonQAAgent` is the reference solution of the lab (Part 6).
`find_sources`, `resolve_citations` and `attribute_citations` are the parts an agent of one's own
can reuse: retrieved passages, [n] markers checked against them, sentences attributed when the
model cited nothing.
"""
from ..rag.citations import attribute as attribute_citations
from ..rag.citations import resolve_citations
from .agent import Agent, AgentError, AgentInputError, RunRecord
from .carbon import CarbonQAAgent, find_sources, scopes_named
from .documents import lab_documents, scope_documents

__all__ = ["Agent", "AgentError", "AgentInputError", "RunRecord", "CarbonQAAgent", "find_sources", "scopes_named",
           "lab_documents", "scope_documents", "resolve_citations", "attribute_citations"]
