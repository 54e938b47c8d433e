"""The ensemble: weighted choice of a backend per request, usage per backend and in total, checks of all."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kernelevolve.llm import Ensemble, LLMConfigError, LLMRequestError, Message
from tests.llm.fake_servers import AnthropicServer, OpenAIServer, Reply, Status

PROMPT = [Message("user", "Make softmax fast.")]


class NamedBackend:
    """A backend that is only a name: enough to test which one the ensemble picks."""

    def __init__(self, model: str) -> None:
        self.name, self.model = "openai", model

    def complete(self, messages, *, max_tokens, temperature):
        raise AssertionError("not called")

    def check(self) -> None:
        pass


def test_picks_follow_the_weights():
    ensemble = Ensemble([(NamedBackend("a"), 3), (NamedBackend("b"), 1)])
    rng = random.Random(1234)
    picks = Counter(ensemble.pick(rng).model for _ in range(20_000))
    assert picks["a"] / 20_000 == pytest.approx(0.75, abs=0.015)


def test_same_seed_gives_the_same_picks():
    ensemble = Ensemble([(NamedBackend("a"), 1), (NamedBackend("b"), 1), (NamedBackend("c"), 2)])
    rng_a, rng_b = random.Random(7), random.Random(7)
    assert [ensemble.pick(rng_a).model for _ in range(50)] == [ensemble.pick(rng_b).model for _ in range(50)]


def test_a_backend_given_twice_is_refused():
    with pytest.raises(LLMConfigError, match="given twice"):
        Ensemble.from_specs(["openai:gpt-4o@2", "openai:gpt-4o"])


def test_no_backend_is_refused():
    with pytest.raises(LLMConfigError, match="KERNELEVOLVE_LLM"):
        Ensemble.from_specs([])


def test_usage_sums_per_backend_and_in_total(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv(
        "KERNELEVOLVE_LLM_PRICES",
        '{"oa": {"input": 1, "output": 2}, "an": {"input": 10, "output": 20}}',
    )
    with (
        OpenAIServer(respond=lambda r: Reply(input_tokens=100, output_tokens=10)) as oa,
        AnthropicServer(respond=lambda r: Reply(input_tokens=1000, output_tokens=50)) as an,
    ):
        monkeypatch.setenv("OPENAI_BASE_URL", oa.base_url)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", an.base_url)
        ensemble = Ensemble.from_specs(["openai:oa@1", "anthropic:an@1"], backoff_s=0.001)
        ensemble.check()
        rng = random.Random(0)
        for _ in range(20):
            ensemble.complete(PROMPT, rng)
    usage = ensemble.usage()
    n_oa, n_an = len(oa.bodies), len(an.bodies)
    assert n_oa + n_an == 20 and n_oa > 0 and n_an > 0
    assert usage["backends"]["openai:oa"] == {
        "requests": n_oa,
        "failures": 0,
        "input_tokens": 100 * n_oa,
        "output_tokens": 10 * n_oa,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": pytest.approx(n_oa * (100 * 1 + 10 * 2) / 1e6),
    }
    assert usage["backends"]["anthropic:an"]["cost_usd"] == pytest.approx(n_an * (1000 * 10 + 50 * 20) / 1e6)
    total = usage["total"]
    assert (total["requests"], total["input_tokens"]) == (20, 100 * n_oa + 1000 * n_an)
    assert total["cost_usd"] == pytest.approx(
        usage["backends"]["openai:oa"]["cost_usd"] + usage["backends"]["anthropic:an"]["cost_usd"]
    )


def test_an_unpriced_backend_makes_the_total_cost_unknown(monkeypatch):
    monkeypatch.setenv("KERNELEVOLVE_LLM_PRICES", '{"priced": {"input": 1, "output": 1}}')
    with OpenAIServer(respond=lambda r: Reply()) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        ensemble = Ensemble.from_specs(["openai:priced", "openai:unpriced"])
        rng = random.Random(3)
        for _ in range(10):
            ensemble.complete(PROMPT, rng)
    usage = ensemble.usage()
    assert usage["backends"]["openai:priced"]["cost_usd"] is not None
    assert usage["backends"]["openai:unpriced"]["cost_usd"] is None
    assert usage["total"]["cost_usd"] is None


def test_a_failed_request_is_counted_and_raised(monkeypatch):
    with OpenAIServer(script=[Status(400)]) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        ensemble = Ensemble.from_specs(["openai:fake-model"])
        with pytest.raises(LLMRequestError):
            ensemble.complete(PROMPT, random.Random(0))
    assert ensemble.usage()["total"]["failures"] == 1
    assert ensemble.usage()["total"]["requests"] == 0


def test_check_reports_every_backend_that_fails():
    ensemble = Ensemble.from_specs(["openai:gpt-4o", "anthropic:claude-sonnet-4-5"])
    with pytest.raises(LLMConfigError) as raised:
        ensemble.check()
    assert "OPENAI_API_KEY" in str(raised.value) and "ANTHROPIC_API_KEY" in str(raised.value)
