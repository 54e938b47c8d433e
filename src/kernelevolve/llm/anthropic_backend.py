"""The Anthropic backend: the messages API through the official ``anthropic`` client.

The system prompt is the part of a prompt that stays the same through a run (operators build it so):
it is sent as one block marked ``cache_control``, so that the provider caches it and later requests
read it at the cached rate. Anthropic's usage counts uncached input apart from cache reads and writes;
the reply adds them up into the whole prompt.

Options: ``thinking`` turns extended thinking on with that budget of tokens (within ``max_tokens``);
``effort`` goes out as the output effort; ``stream`` reads the answer as server-sent events (what
Anthropic asks for of answers that may take minutes). Temperature is sent only where the installed
client still takes it (0.x releases) and thinking is off. From 1.0 the client has no such argument,
and API version 2026-10-21, which 2.x speaks, answers 400 to any sampling parameter, so the request
goes without one.
"""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import Any

from kernelevolve.llm.backend import ClientBackend, Reply
from kernelevolve.llm.client_errors import MalformedReply
from kernelevolve.llm.messages import Message


class AnthropicBackend(ClientBackend):
    name = "anthropic"
    package = "anthropic"
    client_class = "Anthropic"

    @cached_property
    def sends_temperature(self) -> bool:
        return "temperature" in inspect.signature(self.sdk.resources.Messages.create).parameters

    def send(self, client: Any, messages: list[Message]) -> Reply:
        options = self.options
        # The messages API takes the system prompt apart from the turns.
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages if m.role != "system"],
            "max_tokens": options.max_tokens,
        }
        if system:
            request["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
        if options.thinking_tokens is not None:
            request["thinking"] = {"type": "enabled", "budget_tokens": options.thinking_tokens}
        elif self.sends_temperature and options.temperature is not None:
            request["temperature"] = options.temperature
        if options.effort is not None:
            request["output_config"] = {"effort": options.effort}
        if options.stream:
            with client.messages.stream(**request) as stream:
                response = stream.get_final_message()
        else:
            response = client.messages.create(**request)
        try:
            text = "".join(block.text for block in response.content if block.type == "text")
            usage = response.usage
        except (AttributeError, TypeError) as exc:
            raise MalformedReply(f"no content blocks in {response!r:.200}") from exc
        uncached = getattr(usage, "input_tokens", None)
        cached = getattr(usage, "cache_read_input_tokens", None) or 0
        written = getattr(usage, "cache_creation_input_tokens", None) or 0
        return Reply(
            text=text,
            model=response.model or self.model,
            input_tokens=None if uncached is None else uncached + cached + written,
            output_tokens=getattr(usage, "output_tokens", None),
            cached_input_tokens=cached,
            cache_write_tokens=written,
        )
