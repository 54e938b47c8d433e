"""The OpenAI-compatible backend: chat completions through the official ``openai`` client, for OpenAI
itself and for servers that speak its protocol (vLLM, SGLang, Ollama, llama.cpp). These cache a
prompt's identical prefix on their own; the usage says how many prompt tokens the cache served.

With ``stream=true`` the answer arrives as it is written (server-sent events, the usage in the last
one), which keeps a long reasoning answer's connection busy through proxies that cut idle ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kernelevolve.llm.backend import ClientBackend, Reply
from kernelevolve.llm.client_errors import MalformedReply
from kernelevolve.llm.messages import Message


class OpenAIBackend(ClientBackend):
    name = "openai"
    package = "openai"
    client_class = "OpenAI"

    def send(self, client: Any, messages: list[Message]) -> Reply:
        options = self.options
        # OpenAI's reasoning models refuse max_tokens; compatible servers do not all know its successor.
        limit = "max_completion_tokens" if self.endpoint.is_home else "max_tokens"
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            limit: options.max_tokens,
        }
        if options.temperature is not None:
            request["temperature"] = options.temperature
        if options.effort is not None:
            request["reasoning_effort"] = options.effort
        if options.stream:
            chunks = client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
            return self._streamed(chunks)
        response = client.chat.completions.create(**request)
        try:
            text = response.choices[0].message.content
            usage = response.usage
        except (AttributeError, IndexError, TypeError) as exc:
            raise MalformedReply(f"no choice with a message in {response!r:.200}") from exc
        return self._reply(text or "", response.model, usage)

    def _streamed(self, chunks: Iterable[Any]) -> Reply:
        parts: list[str] = []
        model, usage = None, None
        for chunk in chunks:
            model = getattr(chunk, "model", None) or model
            usage = getattr(chunk, "usage", None) or usage
            for choice in getattr(chunk, "choices", None) or []:
                content = getattr(choice.delta, "content", None)
                if content:
                    parts.append(content)
        if model is None:
            raise MalformedReply("the stream ended before any chunk")
        return self._reply("".join(parts), model, usage)

    def _reply(self, text: str, model: str | None, usage: Any) -> Reply:
        details = getattr(usage, "prompt_tokens_details", None)  # where servers say what their cache served
        return Reply(
            text=text,
            model=model or self.model,
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
            cached_input_tokens=getattr(details, "cached_tokens", None) or 0,
        )
