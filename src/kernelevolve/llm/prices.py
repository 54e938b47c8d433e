"""What a completion cost: a small table of list prices in USD per million tokens, which
``KERNELEVOLVE_LLM_PRICES`` extends or overrides. A model that is not in the table has no cost (None).

Input tokens read from the provider's prompt cache are priced at the cached rate, and tokens written
to it (Anthropic's cache writes) at the write rate; a price without them charges the input rate.

``KERNELEVOLVE_LLM_PRICES`` is a JSON object of model name to input and output price, optionally with
``cached_input`` and ``cache_write``, e.g. ``{"qwen2.5-coder-32b": {"input": 0, "output": 0},
"gpt-4o": {"input": 2.5, "output": 10, "cached_input": 1.25}}``. Names match exactly: the model a spec
asks for first, then the model the server says answered.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from kernelevolve.config import PRICES_ENV, environ
from kernelevolve.llm.errors import LLMConfigError


@dataclass(frozen=True)
class Price:
    input_per_mtok: float  # USD per million input tokens
    output_per_mtok: float  # USD per million output tokens
    cached_input_per_mtok: float | None = None  # input read from the prompt cache; None: the input rate
    cache_write_per_mtok: float | None = None  # input written to the prompt cache; None: the input rate

    def cost_usd(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0, written_tokens: int = 0) -> float:
        """``input_tokens`` counts every prompt token, those read from and written to the cache included."""
        cached_rate = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        write_rate = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        fresh = max(0, input_tokens - cached_tokens - written_tokens)
        return (fresh * self.input_per_mtok + cached_tokens * cached_rate + written_tokens * write_rate
                + output_tokens * self.output_per_mtok) / 1e6


# Standard-tier list prices published by OpenAI and Anthropic in 2025 (cached input; Anthropic's
# five-minute cache writes). When they change, or for a model not listed here, set
# KERNELEVOLVE_LLM_PRICES rather than trusting a stale number.
LIST_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "o3": Price(2.00, 8.00, 0.50),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "claude-opus-4-1": Price(15.00, 75.00, 1.50, 18.75),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30, 3.75),
    "claude-sonnet-4-20250514": Price(3.00, 15.00, 0.30, 3.75),
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10, 1.25),
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PriceTable:
        """The list prices, with the entries of ``KERNELEVOLVE_LLM_PRICES`` on top."""
        env = environ() if env is None else env
        raw = env.get(PRICES_ENV)
        overrides = parse_prices(raw) if raw else {}
        return cls({**LIST_PRICES, **overrides})

    def cost_usd(
        self, models: tuple[str, ...], input_tokens: int, output_tokens: int, cached_tokens: int = 0,
        written_tokens: int = 0,
    ) -> float | None:
        """The cost at the first of ``models`` that has a price; None when none has."""
        for model in models:
            price = self._prices.get(model)
            if price is not None:
                return price.cost_usd(input_tokens, output_tokens, cached_tokens, written_tokens)
        return None


def parse_prices(raw: str) -> dict[str, Price]:
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LLMConfigError(f"{PRICES_ENV} is not JSON ({exc}); {_EXAMPLE}") from exc
    if not isinstance(entries, dict):
        raise LLMConfigError(f"{PRICES_ENV} must be a JSON object; {_EXAMPLE}")
    return {model: _price(model, entry) for model, entry in entries.items()}


_EXAMPLE = ('expected e.g. {"my-model": {"input": 0.5, "output": 1.5}} in USD per million tokens '
            '(optionally with "cached_input" and "cache_write")')
_REQUIRED, _OPTIONAL = ("input", "output"), ("cached_input", "cache_write")


def _price(model: str, entry: object) -> Price:
    known = isinstance(entry, dict) and set(_REQUIRED) <= set(entry) <= {*_REQUIRED, *_OPTIONAL}
    if known and all(_is_price(v) for v in entry.values()):
        optional = [float(entry[k]) if k in entry else None for k in _OPTIONAL]
        return Price(float(entry["input"]), float(entry["output"]), *optional)
    raise LLMConfigError(f"{PRICES_ENV}: bad entry for {model!r}: {entry!r}; {_EXAMPLE}")


def _is_price(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
