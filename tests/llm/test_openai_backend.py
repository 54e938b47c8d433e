"""The OpenAI-compatible backend against a real loopback server that plays scripted replies."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from kernelevolve.llm import LLMConfigError, LLMRequestError, Message, make_backend
from tests.llm.fake_servers import Malformed, OpenAIServer, Reply, Status

PROMPT = [Message("system", "You write Triton kernels."), Message("user", "Make softmax fast.")]


def backend_for(srv: OpenAIServer, monkeypatch: pytest.MonkeyPatch, options: str = "max_tokens=64&temperature=0.5",
                **kw):
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    return make_backend(f"openai:fake-model?{options}", backoff_s=0.001, **kw)


def ask(backend):
    return backend.complete(PROMPT)


def test_prompt_and_limits_reach_the_server(monkeypatch):
    with OpenAIServer(script=[Reply(text="kernel")]) as srv:
        completion = ask(backend_for(srv, monkeypatch))
    assert completion.text == "kernel"
    (body,) = srv.bodies
    assert body["model"] == "fake-model"
    assert body["messages"] == [
        {"role": "system", "content": "You write Triton kernels."},
        {"role": "user", "content": "Make softmax fast."},
    ]
    assert body["max_tokens"] == 64 and body["temperature"] == 0.5


def test_reasoning_options_reach_the_server(monkeypatch):
    with OpenAIServer(script=[Reply(text="kernel")]) as srv:
        ask(backend_for(srv, monkeypatch, "effort=high&temperature=none&max_tokens=30000"))
    (body,) = srv.bodies
    assert (body["reasoning_effort"], body["max_tokens"], "temperature" in body) == ("high", 30000, False)


def test_a_streamed_answer_is_read_whole_with_its_usage(monkeypatch):
    text = "Change: stream it.\n\n```python\n" + "x = 1\n" * 40 + "```\n"
    with OpenAIServer(script=[Reply(text=text, input_tokens=900, output_tokens=80, cached_tokens=600)]) as srv:
        completion = ask(backend_for(srv, monkeypatch, "stream=true"))
    assert srv.bodies[0]["stream"] is True and srv.bodies[0]["stream_options"] == {"include_usage": True}
    assert completion.text == text
    assert (completion.input_tokens, completion.output_tokens, completion.cached_input_tokens) == (900, 80, 600)


def test_rate_limit_is_retried_and_counted(monkeypatch):
    with OpenAIServer(script=[Status(429, retry_after=0), Reply(text="ok")]) as srv:
        completion = ask(backend_for(srv, monkeypatch))
    assert (completion.text, completion.attempts) == ("ok", 2)
    assert len(srv.bodies) == 2


def test_retry_after_is_waited_for(monkeypatch):
    with OpenAIServer(script=[Status(429, retry_after=0.4), Reply()]) as srv:
        completion = ask(backend_for(srv, monkeypatch))
    assert completion.latency_s >= 0.4


def test_server_errors_are_retried(monkeypatch):
    with OpenAIServer(script=[Status(500), Status(503), Status(502), Reply(text="ok")]) as srv:
        completion = ask(backend_for(srv, monkeypatch))
    assert (completion.text, completion.attempts) == ("ok", 4)


def test_rejected_key_is_not_retried_and_says_which_variable(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with (
        OpenAIServer(script=[Reply()], api_key="right") as srv,
        pytest.raises(LLMConfigError, match="OPENAI_API_KEY") as raised,
    ):
        ask(backend_for(srv, monkeypatch))
    assert "401" in str(raised.value)
    assert len(srv.bodies) == 1


def test_bad_request_is_not_retried(monkeypatch):
    with (
        OpenAIServer(script=[Status(400, message="context too long"), Reply()]) as srv,
        pytest.raises(LLMRequestError, match="context too long") as raised,
    ):
        ask(backend_for(srv, monkeypatch))
    assert (raised.value.status, raised.value.attempts) == (400, 1)
    assert len(srv.bodies) == 1


def test_unknown_model_is_a_config_error(monkeypatch):
    with (
        OpenAIServer(script=[Status(404, message="model not found")]) as srv,
        pytest.raises(LLMConfigError, match="model name"),
    ):
        ask(backend_for(srv, monkeypatch))


def test_malformed_body_fails_after_the_retries(monkeypatch):
    with (
        OpenAIServer(respond=lambda request: Malformed()) as srv,
        pytest.raises(LLMRequestError, match="malformed reply") as raised,
    ):
        ask(backend_for(srv, monkeypatch, max_retries=2))
    assert raised.value.attempts == 3
    assert len(srv.bodies) == 3


def test_reply_without_choices_is_malformed(monkeypatch):
    with OpenAIServer(script=[Malformed(b'{"id": "x", "choices": []}'), Reply(text="ok")]) as srv:
        completion = ask(backend_for(srv, monkeypatch))
    assert (completion.text, completion.attempts) == ("ok", 2)


def test_timeout_is_retried(monkeypatch):
    with OpenAIServer(script=[Reply(text="late", delay_s=1.0), Reply(text="ok")]) as srv:
        completion = ask(backend_for(srv, monkeypatch, timeout_s=0.3))
    assert (completion.text, completion.attempts) == ("ok", 2)


def test_a_timed_out_request_is_retried_once_only(monkeypatch):
    late = Reply(text="late", delay_s=1.0)
    with (
        OpenAIServer(script=[late, late, Reply(text="ok")]) as srv,
        pytest.raises(LLMRequestError, match="timed out") as raised,
    ):
        ask(backend_for(srv, monkeypatch, "timeout=0.3&retries=4"))
    assert raised.value.attempts == 2


def test_usage_and_cost_come_from_the_reply(monkeypatch):
    monkeypatch.setenv("KERNELEVOLVE_LLM_PRICES", '{"fake-model": {"input": 2, "output": 10}}')
    with OpenAIServer(script=[Reply(input_tokens=1000, output_tokens=100, model="fake-model-2025")]) as srv:
        completion = ask(backend_for(srv, monkeypatch))
    assert (completion.input_tokens, completion.output_tokens) == (1000, 100)
    assert completion.cost_usd == pytest.approx((1000 * 2 + 100 * 10) / 1e6)
    assert (completion.model, completion.backend) == ("fake-model-2025", "openai")


def test_cached_prompt_tokens_are_read_and_priced_at_the_cached_rate(monkeypatch):
    monkeypatch.setenv("KERNELEVOLVE_LLM_PRICES", '{"fake-model": {"input": 2, "output": 10, "cached_input": 0.5}}')
    with OpenAIServer(script=[Reply(input_tokens=1000, output_tokens=100, cached_tokens=800)]) as srv:
        completion = ask(backend_for(srv, monkeypatch))
    assert (completion.input_tokens, completion.cached_input_tokens, completion.cache_write_tokens) == (1000, 800, 0)
    assert completion.cost_usd == pytest.approx((200 * 2 + 800 * 0.5 + 100 * 10) / 1e6)


def test_unpriced_model_has_no_cost(monkeypatch):
    with OpenAIServer(script=[Reply()]) as srv:
        assert ask(backend_for(srv, monkeypatch)).cost_usd is None


def test_concurrency_limit_is_honoured(monkeypatch):
    with OpenAIServer(respond=lambda request: Reply(delay_s=0.15)) as srv:
        backend = backend_for(srv, monkeypatch, concurrency=2)
        threads = [threading.Thread(target=ask, args=(backend,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(srv.bodies) == 6
    assert srv.max_in_flight == 2


def test_local_server_needs_no_key(monkeypatch):
    with OpenAIServer(script=[Reply()]) as srv:
        backend = backend_for(srv, monkeypatch)
        backend.check()
        ask(backend)
    assert all(r.headers["authorization"] == "Bearer EMPTY" for r in srv.requests)


def test_check_passes_against_a_live_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with OpenAIServer(api_key="sk-test") as srv:
        backend_for(srv, monkeypatch).check()
    assert [(r.method, r.path) for r in srv.requests] == [("GET", "/v1/models")]


def test_check_fails_on_a_missing_key_for_openai_com(monkeypatch):
    backend = make_backend("openai:gpt-4o")
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY is not set"):
        backend.check()
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY is not set"):
        ask(backend)


def test_check_fails_fast_on_an_unreachable_port(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    backend = make_backend("openai:fake-model")
    start = time.monotonic()
    with pytest.raises(LLMConfigError) as raised:
        backend.check()
    assert time.monotonic() - start < 2
    message = str(raised.value)
    assert f"http://127.0.0.1:{port}/v1" in message and "OPENAI_BASE_URL" in message


def test_check_fails_on_a_rejected_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with OpenAIServer(api_key="right") as srv, pytest.raises(LLMConfigError, match="401"):
        backend_for(srv, monkeypatch).check()
