"""Which endpoint and key a provider's environment gives, and when a missing key is an error."""

from __future__ import annotations

import pytest

from kernelevolve.llm import LLMConfigError
from kernelevolve.llm.endpoint import ANTHROPIC_ENV, OPENAI_ENV, PLACEHOLDER_KEY, resolve_endpoint


def test_default_openai_endpoint_needs_the_key():
    endpoint = resolve_endpoint(OPENAI_ENV, {})
    assert (endpoint.base_url, endpoint.api_key, endpoint.is_home) == (
        "https://api.openai.com/v1",
        None,
        True,
    )
    with pytest.raises(LLMConfigError, match="export OPENAI_API_KEY"):
        endpoint.require_key()


def test_key_from_the_environment_is_used():
    endpoint = resolve_endpoint(OPENAI_ENV, {"OPENAI_API_KEY": "sk-1"})
    assert endpoint.require_key() == "sk-1"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1", "http://gpu-box:11434/v1", "https://my.vllm.example/v1"]
)
def test_local_server_gets_a_placeholder_key(url):
    endpoint = resolve_endpoint(OPENAI_ENV, {"OPENAI_BASE_URL": url})
    assert (endpoint.base_url, endpoint.api_key, endpoint.is_home) == (url, PLACEHOLDER_KEY, False)


def test_openai_subdomain_still_needs_the_key():
    endpoint = resolve_endpoint(OPENAI_ENV, {"OPENAI_BASE_URL": "https://eu.api.openai.com/v1"})
    assert endpoint.api_key is None


def test_anthropic_endpoint_reads_its_own_variables():
    env = {
        "ANTHROPIC_API_KEY": "sk-ant",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9000",
        "OPENAI_API_KEY": "x",
    }
    endpoint = resolve_endpoint(ANTHROPIC_ENV, env)
    assert (endpoint.base_url, endpoint.api_key) == ("http://127.0.0.1:9000", "sk-ant")


def test_base_url_without_a_host_is_a_config_error():
    with pytest.raises(LLMConfigError, match="OPENAI_BASE_URL"):
        resolve_endpoint(OPENAI_ENV, {"OPENAI_BASE_URL": "localhost:8000"})
