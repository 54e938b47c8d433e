"""Spec strings: parsing, weights, where a run's specs come from, and the backend a spec builds."""

from __future__ import annotations

import pytest

from kernelevolve.llm import BackendSpec, LLMConfigError, make_backend, parse_spec, resolve_specs


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
