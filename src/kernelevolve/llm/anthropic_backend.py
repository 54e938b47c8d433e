"""The Anthropic backend: the messages API through the official ``anthropic`` client.

Temperature is sent only where the installed client still takes it (0.x releases). From 1.0 the client
has no such argument, and API version 2026-10-21, which 2.x speaks, answers 400 to any sampling
parameter, so the request goes without one.
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

    def send(self, client: Any, messages: list[Message], max_tokens: int, temperature: float) -> Reply:
        # The messages API takes the system prompt apart from the turns.
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        optional = {"system": system} if system else {}
        if self.sends_temperature:
            optional["temperature"] = temperature
        response = client.messages.create(
            model=self.model,
            messages=[{"role": m.role, "content": m.content} for m in messages if m.role != "system"],
            max_tokens=max_tokens,
            **optional,
        )
        try:
            text = "".join(block.text for block in response.content if block.type == "text")
            usage = response.usage
        except (AttributeError, TypeError) as exc:
            raise MalformedReply(f"no content blocks in {response!r:.200}") from exc
        return Reply(
            text=text,
            model=response.model or self.model,
            input_tokens=getattr(usage, "input_tokens", None),
            output_tokens=getattr(usage, "output_tokens", None),
        )
