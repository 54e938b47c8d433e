"""The Anthropic backend end to end against a real loopback server that speaks the messages protocol."""

from __future__ import annotations

import pytest

from kernelevolve.llm import LLMConfigError, Message, make_backend
from tests.llm.fake_servers import AnthropicServer, Reply, Status


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")


def backend_for(srv: AnthropicServer, monkeypatch: pytest.MonkeyPatch, options: str = "", **kw):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
    return make_backend(f"anthropic:claude-fake?{options}", backoff_s=0.001, **kw)


def test_completion_end_to_end(monkeypatch, key):
    monkeypatch.setenv("KERNELEVOLVE_LLM_PRICES", '{"claude-fake": {"input": 3, "output": 15}}')
    prompt = [
        Message("system", "You write Triton kernels."),
        Message("user", "Make softmax fast."),
        Message("assistant", "Here is a draft."),
        Message("user", "Now faster."),
    ]
    reply = Reply(text="fast kernel", input_tokens=1000, output_tokens=200)
    with AnthropicServer(script=[reply], api_key="sk-ant-test") as srv:
        backend = backend_for(srv, monkeypatch, "max_tokens=128&temperature=0.2")
        backend.check()
        completion = backend.complete(prompt)
    assert (completion.text, completion.backend, completion.model) == (
        "fast kernel",
        "anthropic",
        "claude-fake",
    )
    assert (completion.input_tokens, completion.output_tokens, completion.attempts) == (1000, 200, 1)
    assert completion.cost_usd == pytest.approx((1000 * 3 + 200 * 15) / 1e6)
    (body,) = srv.bodies
    assert body["system"] == [
        {"type": "text", "text": "You write Triton kernels.", "cache_control": {"type": "ephemeral"}}
    ]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 128
    assert body.get("temperature") == (0.2 if backend.sends_temperature else None)


def test_cache_reads_and_writes_count_in_the_prompt_and_are_priced_at_their_rates(monkeypatch, key):
    prices = '{"claude-fake": {"input": 3, "output": 15, "cached_input": 0.3, "cache_write": 3.75}}'
    monkeypatch.setenv("KERNELEVOLVE_LLM_PRICES", prices)
    replies = [Reply(input_tokens=5000, output_tokens=100, cache_write_tokens=4000),
               Reply(input_tokens=5200, output_tokens=100, cached_tokens=4000)]
    with AnthropicServer(script=replies) as srv:
        backend = backend_for(srv, monkeypatch)
        first, second = (backend.complete([Message("system", "rules"), Message("user", "go")]) for _ in range(2))
    assert (first.input_tokens, first.cached_input_tokens, first.cache_write_tokens) == (5000, 0, 4000)
    assert (second.input_tokens, second.cached_input_tokens, second.cache_write_tokens) == (5200, 4000, 0)
    assert first.cost_usd == pytest.approx((1000 * 3 + 4000 * 3.75 + 100 * 15) / 1e6)
    assert second.cost_usd == pytest.approx((1200 * 3 + 4000 * 0.3 + 100 * 15) / 1e6)


def test_thinking_and_effort_reach_the_server_and_a_stream_is_read_whole(monkeypatch, key):
    text = "Change: think first.\n\n```python\n" + "y = 2\n" * 30 + "```\n"
    with AnthropicServer(script=[Reply(text=text, input_tokens=700, output_tokens=90, cached_tokens=500)]) as srv:
        backend = backend_for(srv, monkeypatch, "thinking=2048&max_tokens=4096&effort=high&stream=true")
        completion = backend.complete([Message("system", "rules"), Message("user", "go")])
    (body,) = srv.bodies
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048} and body["max_tokens"] == 4096
    assert body["output_config"] == {"effort": "high"} and body["stream"] is True
    assert "temperature" not in body  # extended thinking takes none
    assert completion.text == text
    assert (completion.input_tokens, completion.cached_input_tokens, completion.output_tokens) == (700, 500, 90)


def test_overloaded_is_retried(monkeypatch, key):
    with AnthropicServer(script=[Status(529, retry_after=0), Status(500), Reply(text="ok")]) as srv:
        completion = backend_for(srv, monkeypatch).complete([Message("user", "hi")])
    assert (completion.text, completion.attempts) == ("ok", 3)


def test_check_fails_on_a_missing_key():
    with pytest.raises(LLMConfigError, match="ANTHROPIC_API_KEY is not set"):
        make_backend("anthropic:claude-fake").check()


def test_check_fails_on_a_rejected_key(monkeypatch, key):
    with (
        AnthropicServer(api_key="another-key") as srv,
        pytest.raises(LLMConfigError, match="ANTHROPIC_API_KEY"),
    ):
        backend_for(srv, monkeypatch).check()
