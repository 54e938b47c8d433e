"""What a spec may say about how to ask its model: ``PROVIDER:MODEL[@WEIGHT][?OPTION=VALUE&…]``.

    openai:qwen2.5-coder-32b?timeout=900&temperature=0.2
    openai:o3?effort=high&temperature=none&max_tokens=32000
    anthropic:claude-sonnet-4-5?thinking=16000&max_tokens=32000&stream=true

The defaults suit reasoning models, which may think for minutes before they answer: a request
waits up to ten minutes, and a timed-out request is retried once at most (the timeout is already
the patience asked for).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kernelevolve.llm.errors import LLMConfigError

DEFAULT_TIMEOUT_S = 600.0
EFFORTS = ("minimal", "low", "medium", "high", "xhigh", "max")
# The names a spec's query uses, and the field each one sets.
SPEC_NAMES = {"timeout": "timeout_s", "max_tokens": "max_tokens", "temperature": "temperature",
              "effort": "effort", "thinking": "thinking_tokens", "stream": "stream", "retries": "retries"}


class ModelOptions(BaseModel):
    """How one backend asks its model; every field is one option of the spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0)  # one request, the whole answer included
    max_tokens: int = Field(8192, ge=1)  # output tokens, thinking included where the provider counts it so
    temperature: float | None = Field(0.7, ge=0, le=2)  # None: not sent (models that refuse one)
    effort: str | None = None  # reasoning effort: OpenAI's reasoning_effort, Anthropic's output effort
    thinking_tokens: int | None = Field(None, ge=1024)  # Anthropic's extended-thinking budget
    stream: bool = False  # receive the answer as it is written: long answers through proxies that cut idle lines
    retries: int = Field(4, ge=0)  # after the first attempt; a timeout is retried at most once

    @field_validator("effort")
    @classmethod
    def _known_effort(cls, value: str | None) -> str | None:
        if value is not None and value not in EFFORTS:
            raise ValueError(f"must be one of {', '.join(EFFORTS)}")
        return value

    @model_validator(mode="after")
    def _thinking_fits(self) -> ModelOptions:
        if self.thinking_tokens is not None and self.thinking_tokens >= self.max_tokens:
            raise ValueError(f"thinking={self.thinking_tokens} must be below max_tokens={self.max_tokens}")
        return self


def parse_options(spec: str, query: str, defaults: ModelOptions) -> ModelOptions:
    """``defaults`` with what the query part of ``spec`` sets; LLMConfigError names a bad option."""
    values: dict[str, object] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise LLMConfigError(f"bad LLM spec {spec!r}: options are NAME=VALUE pairs joined by &") from exc
    for name, raw in pairs:
        if name not in SPEC_NAMES:
            raise LLMConfigError(f"bad LLM spec {spec!r}: unknown option {name!r}; known: {', '.join(SPEC_NAMES)}")
        values[SPEC_NAMES[name]] = None if raw.lower() in ("", "none") else raw
    if "stream" in values:
        values["stream"] = str(values["stream"]).lower() in ("1", "true", "yes", "on")
    try:
        return ModelOptions.model_validate({**defaults.model_dump(), **values})
    except ValidationError as exc:
        fields = {v: k for k, v in SPEC_NAMES.items()}
        problems = "; ".join(f"{fields.get(str(e['loc'][0]), 'options') if e['loc'] else 'options'}: {e['msg']}"
                             for e in exc.errors())
        raise LLMConfigError(f"bad LLM spec {spec!r}: {problems}") from exc
