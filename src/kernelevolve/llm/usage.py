"""Running totals of what requests cost: counts, tokens and dollars, per backend and overall."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kernelevolve.llm.messages import Completion


@dataclass
class Usage:
    """``cost_usd`` is None once any counted completion had no known price: a partial sum would understate."""

    requests: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0

    def add(self, completion: Completion) -> None:
        self.requests += 1
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.cost_usd = _sum_costs(self.cost_usd, completion.cost_usd)

    def merge(self, other: Usage) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd = _sum_costs(self.cost_usd, other.cost_usd)

    def as_dict(self) -> dict[str, int | float | None]:
        return asdict(self)


def _sum_costs(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b
