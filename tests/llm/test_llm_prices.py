"""The price table: list prices, overrides from KERNELEVOLVE_LLM_PRICES, and no cost for unknown models."""

from __future__ import annotations

import pytest

from kernelevolve.llm import LLMConfigError
from kernelevolve.llm.prices import PriceTable


def test_listed_model_is_priced_per_million_tokens():
    table = PriceTable.from_env({})
    assert table.cost_usd(("gpt-4o",), 1_000_000, 100_000) == pytest.approx(2.50 + 1.00)


def test_unknown_model_has_no_cost():
    assert PriceTable.from_env({}).cost_usd(("my-local-model",), 1000, 1000) is None


def test_reported_model_is_the_fallback_name():
    table = PriceTable.from_env({})
    assert table.cost_usd(("my-alias", "gpt-4o-mini"), 1_000_000, 0) == pytest.approx(0.15)


def test_cached_input_is_priced_at_its_rate_and_defaults_to_the_input_rate():
    table = PriceTable.from_env({})
    assert table.cost_usd(("gpt-4o",), 1_000_000, 0, cached_tokens=1_000_000) == pytest.approx(1.25)
    assert table.cost_usd(("claude-sonnet-4-5",), 1_000_000, 0, written_tokens=1_000_000) == pytest.approx(3.75)
    local = PriceTable.from_env({"KERNELEVOLVE_LLM_PRICES": '{"m": {"input": 1, "output": 2}}'})
    assert local.cost_usd(("m",), 1_000_000, 0, cached_tokens=600_000) == pytest.approx(1.0)


def test_environment_adds_and_overrides_prices():
    env = {
        "KERNELEVOLVE_LLM_PRICES": '{"local": {"input": 0, "output": 0}, "gpt-4o": {"input": 1, "output": 2}}'
    }
    table = PriceTable.from_env(env)
    assert table.cost_usd(("local",), 5000, 5000) == 0.0
    assert table.cost_usd(("gpt-4o",), 1_000_000, 1_000_000) == pytest.approx(3.0)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '["gpt-4o", 1, 2]',
        '{"m": [1, 2]}',
        '{"m": {"input": 1}}',
        '{"m": {"input": -1, "output": 2}}',
        '{"m": {"input": "1", "output": 2}}',
        '{"m": {"input": true, "output": 2}}',
        '{"m": {"input": 1, "output": 2, "cached": 0.5}}',
        '{"m": {"input": 1, "output": 2, "cached_input": -1}}',
    ],
)
def test_bad_price_override_is_a_config_error(raw):
    with pytest.raises(LLMConfigError, match="KERNELEVOLVE_LLM_PRICES"):
        PriceTable.from_env({"KERNELEVOLVE_LLM_PRICES": raw})
