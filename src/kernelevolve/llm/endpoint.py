"""Where a provider's requests go and with which key, read from the provider's environment variables.

A key is required when the base URL is the provider's own service; a server elsewhere (vLLM, SGLang,
Ollama, llama.cpp, a proxy) often needs none, and then gets a placeholder key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from kernelevolve.config import environ
from kernelevolve.llm.errors import LLMConfigError

PLACEHOLDER_KEY = "EMPTY"  # what vLLM's documentation passes to servers started without --api-key


@dataclass(frozen=True)
class ProviderEnv:
    """The environment variables and defaults of one provider."""

    key_var: str
    url_var: str
    default_url: str
    home_domain: str  # hosts in this domain are the provider's own service, which needs a key
    example_url: str  # what a local server's base URL looks like


OPENAI_ENV = ProviderEnv(
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1", "openai.com", "http://127.0.0.1:8000/v1"
)
ANTHROPIC_ENV = ProviderEnv(
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "https://api.anthropic.com",
    "anthropic.com",
    "http://127.0.0.1:8000",
)


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str | None  # None: the provider's service needs a key and none was set
    is_home: bool  # the provider's own service, not a compatible server elsewhere
    env: ProviderEnv

    def require_key(self) -> str:
        if self.api_key is None:
            raise LLMConfigError(
                f"{self.env.key_var} is not set, and {self.base_url} needs it: export {self.env.key_var}, "
                f"or set {self.env.url_var} to a compatible server that needs no key"
            )
        return self.api_key

    def way_out(self) -> str:
        """What the user can change when this endpoint does not answer as it should."""
        return (
            f"start the server, or set {self.env.url_var} to one that runs (such as {self.env.example_url}; "
            f"unset, it is {self.env.default_url}), and check {self.env.key_var}"
        )


def resolve_endpoint(provider: ProviderEnv, env: Mapping[str, str] | None = None) -> Endpoint:
    env = environ() if env is None else env
    base_url = env.get(provider.url_var) or provider.default_url
    host = (urlsplit(base_url).hostname or "").lower()
    if not host:
        raise LLMConfigError(f"{provider.url_var}={base_url!r} is not a URL such as {provider.example_url}")
    is_home = host == provider.home_domain or host.endswith("." + provider.home_domain)
    api_key = env.get(provider.key_var) or (None if is_home else PLACEHOLDER_KEY)
    return Endpoint(base_url=base_url, api_key=api_key, is_home=is_home, env=provider)
