"""The plain data that crosses the llm boundary: the messages of a prompt and the completion that answers it."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    role: str  # 'system' | 'user' | 'assistant'
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role must be one of {ROLES}, not {self.role!r}")


@dataclass(frozen=True)
class Completion:
    """One answer and what it cost. ``cost_usd`` is None where the model's price is unknown.
    ``input_tokens`` counts the whole prompt, the tokens read from or written to the provider's
    prompt cache included."""

    text: str
    model: str  # the model the server says answered
    backend: str  # the provider: 'openai' | 'anthropic'
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    latency_s: float  # wall time of the whole call: waits for a free slot, retries and backoff included
    attempts: int
    cached_input_tokens: int = 0  # prompt tokens the provider read from its cache
    cache_write_tokens: int = 0  # prompt tokens written to the cache (Anthropic bills them apart)
