"""The workshop's agent framework (`GL_COMMONS.infrastructure.agents` in the text).

`Agent` is the base class; `CarbonQAAgent` is the reference solution of the lab (Part 6).
"""
from .agent import Agent, AgentError, AgentInputError, RunRecord  # noqa: F401
from .carbon import CarbonQAAgent, find_sources, scopes_named  # noqa: F401
from .documents import lab_documents, scope_documents  # noqa: F401

__all__ = ["Agent", "AgentError", "AgentInputError", "RunRecord", "CarbonQAAgent", "find_sources", "scopes_named",
           "lab_documents", "scope_documents"]
