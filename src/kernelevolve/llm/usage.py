"""Running totals of what requests cost: counts, tokens and dollars, per backend and overall; and the
total of a run's stored per-node usage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from kernelevolve.llm.messages import Completion


@dataclass
class Usage:
    """``cost_usd`` is None once any counted completion had no known price: a partial sum would understate."""

    requests: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = 0.0

    def add(self, completion: Completion) -> None:
        self.requests += 1
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.cached_input_tokens += completion.cached_input_tokens
        self.cache_write_tokens += completion.cache_write_tokens
        self.cost_usd = _sum_costs(self.cost_usd, completion.cost_usd)

    def merge(self, other: Usage) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_usd = _sum_costs(self.cost_usd, other.cost_usd)

    def as_dict(self) -> dict[str, int | float | None]:
        return asdict(self)

    @classmethod
    def of_nodes(cls, usages: Iterable[Mapping[str, Any] | None]) -> Usage:
        """The total of the per-node usage the universal operator stores (``metrics["usage"]``);
        nodes without one (seeds, the tuner) add nothing."""
        total = cls()
        for usage in usages:
            if not usage or "input_tokens" not in usage:
                continue
            total.requests += 1
            total.input_tokens += int(usage.get("input_tokens") or 0)
            total.output_tokens += int(usage.get("output_tokens") or 0)
            total.cached_input_tokens += int(usage.get("cached_input_tokens") or 0)
            total.cache_write_tokens += int(usage.get("cache_write_tokens") or 0)
            total.cost_usd = _sum_costs(total.cost_usd, usage.get("cost_usd"))
        return total

    def summary(self) -> str:
        """``3 LLM requests: 90,000 input tokens (70,000 cached), 2,100 output, $0.0310``."""
        cached = f" ({self.cached_input_tokens:,} cached)" if self.cached_input_tokens else ""
        return (f"{self.requests} LLM request{'s' if self.requests != 1 else ''}: {self.input_tokens:,} input tokens"
                f"{cached}, {self.output_tokens:,} output, {format_cost(self.cost_usd)}")


def format_cost(cost_usd: float | None) -> str:
    """``$0.0123``; ``cost unknown`` where a model had no price."""
    return "cost unknown" if cost_usd is None else f"${cost_usd:.4f}"


def _sum_costs(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b
