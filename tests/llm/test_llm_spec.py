"""Spec strings: parsing, weights, where a run's specs come from, and the backend a spec builds."""

from __future__ import annotations

import pytest

from kernelevolve.llm import BackendSpec, LLMConfigError, ModelOptions, make_backend, parse_spec, resolve_specs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("openai:gpt-4o", BackendSpec("openai", "gpt-4o", 1.0)),
        ("openai:gpt-4o@3", BackendSpec("openai", "gpt-4o", 3.0)),
        (" anthropic:claude-x@0.5 ", BackendSpec("anthropic", "claude-x", 0.5)),
        ("openai:qwen2.5-coder:32b", BackendSpec("openai", "qwen2.5-coder:32b", 1.0)),  # an Ollama tag
        (
            "openai:Qwen/Qwen2.5-Coder-32B-Instruct@2",
            BackendSpec("openai", "Qwen/Qwen2.5-Coder-32B-Instruct", 2),
        ),
    ],
)
def test_spec_is_parsed(text, expected):
    assert parse_spec(text) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("gpt-4o", "PROVIDER:MODEL"),
        ("openai:", "PROVIDER:MODEL"),
        ("gemini:pro", "unknown provider 'gemini'"),
        ("openai:@2", "no model name"),
        ("openai:gpt-4o@0", "positive number"),
        ("openai:gpt-4o@-1", "positive number"),
        ("openai:gpt-4o@many", "positive number"),
        ("openai:gpt-4o@inf", "positive number"),
    ],
)
def test_bad_spec_is_a_config_error(text, complaint):
    with pytest.raises(LLMConfigError, match=complaint):
        parse_spec(text)


def test_options_follow_the_model_and_weight():
    spec = parse_spec("openai:o3@2?effort=high&temperature=none&max_tokens=32000&timeout=900&stream=true&retries=1")
    assert (spec.model, spec.weight) == ("o3", 2.0)
    assert spec.options == ModelOptions(effort="high", temperature=None, max_tokens=32000, timeout_s=900,
                                        stream=True, retries=1)
    thinking = parse_spec("anthropic:claude-x?thinking=16000&max_tokens=32000").options
    assert (thinking.thinking_tokens, thinking.max_tokens) == (16000, 32000)


def test_default_options_wait_long_enough_for_a_reasoning_model():
    options = parse_spec("openai:qwen3:32b").options  # an Ollama tag keeps its colon
    assert (options.timeout_s, options.max_tokens, options.temperature, options.stream) == (600, 8192, 0.7, False)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("openai:m?colour=red", "unknown option 'colour'"),
        ("openai:m?timeout=soon", "timeout:"),
        ("openai:m?timeout=0", "timeout:"),
        ("openai:m?effort=extreme", "effort: .*must be one of"),
        ("openai:m?thinking=4000", "thinking is Anthropic's budget"),
        ("anthropic:m?thinking=9000&max_tokens=8192", "below max_tokens"),
        ("openai:m?max_tokens", "NAME=VALUE"),
    ],
)
def test_bad_option_is_a_config_error_that_names_it(text, complaint):
    with pytest.raises(LLMConfigError, match=complaint):
        parse_spec(text)


def test_command_line_specs_win_over_the_environment():
    env = {"KERNELEVOLVE_LLM": "anthropic:claude-x"}
    assert resolve_specs(["openai:a@2,openai:b", "openai:c"], env) == ["openai:a@2", "openai:b", "openai:c"]


def test_environment_gives_the_default_specs():
    assert resolve_specs(None, {"KERNELEVOLVE_LLM": "openai:a@3, anthropic:b"}) == [
        "openai:a@3",
        "anthropic:b",
    ]


def test_no_specs_anywhere_means_no_llm():
    assert resolve_specs([], {}) == []
    assert resolve_specs(None, {"KERNELEVOLVE_LLM": " , "}) == []


def test_environment_is_read_when_no_env_is_given(monkeypatch):
    monkeypatch.setenv("KERNELEVOLVE_LLM", "openai:from-env")
    assert resolve_specs() == ["openai:from-env"]


def test_backend_carries_provider_and_model():
    backend = make_backend("anthropic:claude-x@2")
    assert (backend.name, backend.model) == ("anthropic", "claude-x")


def test_missing_client_package_is_a_config_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(LLMConfigError, match=r"pip install 'kernelevolve\[llm\]'"):
        make_backend("openai:gpt-4o")
