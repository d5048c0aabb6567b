"""What a local engine takes and gives, shared by both engines (llama.cpp and extractive) and the
wire-format modules that translate the providers' requests."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class GenRequest:
    """A provider-neutral generation request.

    messages: [{"role": system|user|assistant|tool, "content": str,
                "tool_calls": [{"id", "name", "arguments": dict}], "tool_call_id": str}]
    tools: [{"name", "description", "parameters"}]; tool_choice: "auto" | "none" | "required" |
    {"name": ...}. prefill: text the reply must continue (Anthropic's trailing assistant turn).
    """

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, str] = "auto"
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    prefill: str = ""


@dataclass
class GenResult:
    text: str
    tool_calls: list[dict[str, Any]]   # [{"name", "arguments": dict}]
    finish_reason: str          # "stop" | "length" | "tool_calls"
    prompt_tokens: int
    completion_tokens: int


class ContextLengthError(ValueError):
    def __init__(self, prompt_tokens: int, n_ctx: int):
        super().__init__(f"This model's maximum context length is {n_ctx} tokens. However, your "
                         f"messages resulted in {prompt_tokens} tokens. Please reduce the length "
                         f"of the messages.")
        self.prompt_tokens, self.n_ctx = prompt_tokens, n_ctx
