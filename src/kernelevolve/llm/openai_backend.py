"""The OpenAI-compatible backend: chat completions through the official ``openai`` client, for OpenAI
itself and for servers that speak its protocol (vLLM, SGLang, Ollama, llama.cpp). These cache a
prompt's identical prefix on their own; the usage says how many prompt tokens the cache served."""

from __future__ import annotations

from typing import Any

from kernelevolve.llm.backend import ClientBackend, Reply
from kernelevolve.llm.client_errors import MalformedReply
from kernelevolve.llm.messages import Message


class OpenAIBackend(ClientBackend):
    name = "openai"
    package = "openai"
    client_class = "OpenAI"

    def send(self, client: Any, messages: list[Message], max_tokens: int, temperature: float) -> Reply:
        # OpenAI's reasoning models refuse max_tokens; compatible servers do not all know its successor.
        limit = "max_completion_tokens" if self.endpoint.is_home else "max_tokens"
        response = client.chat.completions.create(
            model=self.model,
            messages=[{"role": m.role, "content": m.content} for m in messages],
            temperature=temperature,
            **{limit: max_tokens},
        )
        try:
            text = response.choices[0].message.content
            usage = response.usage
        except (AttributeError, IndexError, TypeError) as exc:
            raise MalformedReply(f"no choice with a message in {response!r:.200}") from exc
        details = getattr(usage, "prompt_tokens_details", None)  # where servers say what their cache served
        return Reply(
            text=text or "",
            model=response.model or self.model,
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
            cached_input_tokens=getattr(details, "cached_tokens", None) or 0,
        )
