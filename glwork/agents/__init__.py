"""The workshop's agent framework (`GL_COMMONS.infrastructure.agents` in the text)."""
from .agent import Agent, AgentError, AgentInputError, RunRecord  # noqa: F401
