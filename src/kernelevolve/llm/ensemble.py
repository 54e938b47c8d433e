"""Several backends used as one: each request goes to a backend drawn by weight from the caller's
random.Random, and the ensemble keeps the usage of each. No fallback: a failed request raises."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from typing import Any

from kernelevolve.llm.backend import Backend
from kernelevolve.llm.errors import LLMConfigError, LLMError
from kernelevolve.llm.messages import Completion, Message
from kernelevolve.llm.spec import make_backend, parse_spec
from kernelevolve.llm.usage import Usage


class Ensemble:
    def __init__(self, members: Sequence[tuple[Backend, float]]) -> None:
        if not members:
            raise LLMConfigError("an ensemble needs at least one backend: give --llm or set KERNELEVOLVE_LLM")
        labels = [label(backend) for backend, _ in members]
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            raise LLMConfigError(f"backend given twice: {', '.join(repeated)}; give one spec with a weight")
        self.backends = [backend for backend, _ in members]
        self.weights = [weight for _, weight in members]
        self._usage = {name: Usage() for name in labels}
        self._lock = threading.Lock()

    @classmethod
    def from_specs(cls, specs: Sequence[str], **kw: Any) -> Ensemble:
        """One backend per spec, weighted as the spec says; ``kw`` goes to ``make_backend``."""
        return cls([(make_backend(spec, **kw), parse_spec(spec).weight) for spec in specs])

    def pick(self, rng: random.Random) -> Backend:
        return rng.choices(self.backends, weights=self.weights)[0]

    def complete(self, messages: list[Message], rng: random.Random) -> Completion:
        """Ask one backend, drawn by weight, as its spec's options say."""
        backend = self.pick(rng)
        usage = self._usage[label(backend)]
        try:
            completion = backend.complete(messages)
        except LLMError:
            with self._lock:
                usage.failures += 1
            raise
        with self._lock:
            usage.add(completion)
        return completion

    def check(self) -> None:
        """Check every backend; raise one LLMConfigError that lists all those that failed."""
        problems = []
        for backend in self.backends:
            try:
                backend.check()
            except LLMConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise LLMConfigError("\n".join(problems))

    def usage(self) -> dict[str, Any]:
        """``{"backends": {"openai:gpt-4o": {...}, ...}, "total": {...}}``, each with requests, failures,
        input_tokens, output_tokens and cost_usd (None where a model's price is unknown)."""
        total = Usage()
        with self._lock:
            for usage in self._usage.values():
                total.merge(usage)
            per_backend = {name: usage.as_dict() for name, usage in self._usage.items()}
        return {"backends": per_backend, "total": total.as_dict()}


def label(backend: Backend) -> str:
    return f"{backend.name}:{backend.model}"
