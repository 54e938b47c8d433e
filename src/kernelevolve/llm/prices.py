"""What a completion cost: a small table of list prices in USD per million tokens, which
``KERNELEVOLVE_LLM_PRICES`` extends or overrides. A model that is not in the table has no cost (None).

``KERNELEVOLVE_LLM_PRICES`` is a JSON object of model name to input and output price, e.g.
``{"qwen2.5-coder-32b": {"input": 0, "output": 0}, "gpt-4o": {"input": 2.5, "output": 10}}``.
Names match exactly: the model a spec asks for first, then the model the server says answered.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from kernelevolve.llm.errors import LLMConfigError

PRICES_VAR = "KERNELEVOLVE_LLM_PRICES"


@dataclass(frozen=True)
class Price:
    input_per_mtok: float  # USD per million input tokens
    output_per_mtok: float  # USD per million output tokens

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


# Standard-tier list prices published by OpenAI and Anthropic in 2025. When they change, or for a
# model not listed here, set KERNELEVOLVE_LLM_PRICES rather than trusting a stale number.
LIST_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "o3": Price(2.00, 8.00),
    "o4-mini": Price(1.10, 4.40),
    "claude-opus-4-1": Price(15.00, 75.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-sonnet-4-20250514": Price(3.00, 15.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PriceTable:
        """The list prices, with the entries of ``KERNELEVOLVE_LLM_PRICES`` on top."""
        env = os.environ if env is None else env
        raw = env.get(PRICES_VAR)
        overrides = parse_prices(raw) if raw else {}
        return cls({**LIST_PRICES, **overrides})

    def cost_usd(self, models: tuple[str, ...], input_tokens: int, output_tokens: int) -> float | None:
        """The cost at the first of ``models`` that has a price; None when none has."""
        for model in models:
            price = self._prices.get(model)
            if price is not None:
                return price.cost_usd(input_tokens, output_tokens)
        return None


def parse_prices(raw: str) -> dict[str, Price]:
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LLMConfigError(f"{PRICES_VAR} is not JSON ({exc}); {_EXAMPLE}") from exc
    if not isinstance(entries, dict):
        raise LLMConfigError(f"{PRICES_VAR} must be a JSON object; {_EXAMPLE}")
    return {model: _price(model, entry) for model, entry in entries.items()}


_EXAMPLE = 'expected e.g. {"my-model": {"input": 0.5, "output": 1.5}} in USD per million tokens'


def _price(model: str, entry: object) -> Price:
    if isinstance(entry, dict) and set(entry) == {"input", "output"}:
        values = (entry["input"], entry["output"])
        if all(_is_price(v) for v in values):
            return Price(float(values[0]), float(values[1]))
    raise LLMConfigError(f"{PRICES_VAR}: bad entry for {model!r}: {entry!r}; {_EXAMPLE}")


def _is_price(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
