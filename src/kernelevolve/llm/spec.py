"""What an LLM spec string means (``PROVIDER:MODEL[@WEIGHT][?OPTION=VALUE&…]``, options in
``llm/options.py``), where the specs of a run come from (the command line, else ``KERNELEVOLVE_LLM``),
and building the backend a spec names."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kernelevolve.config import LLM_ENV, environ
from kernelevolve.llm.anthropic_backend import AnthropicBackend
from kernelevolve.llm.backend import Backend, ClientBackend
from kernelevolve.llm.endpoint import ANTHROPIC_ENV, OPENAI_ENV, ProviderEnv, resolve_endpoint
from kernelevolve.llm.errors import LLMConfigError
from kernelevolve.llm.openai_backend import OpenAIBackend
from kernelevolve.llm.options import DEFAULT_TIMEOUT_S, ModelOptions, parse_options
from kernelevolve.llm.prices import PriceTable
from kernelevolve.llm.retry import RetryPolicy


PROVIDERS: dict[str, tuple[type[ClientBackend], ProviderEnv]] = {
    "openai": (OpenAIBackend, OPENAI_ENV),
    "anthropic": (AnthropicBackend, ANTHROPIC_ENV),
}

_FORMAT = "expected PROVIDER:MODEL, PROVIDER:MODEL@WEIGHT or either with ?OPTION=VALUE&…, e.g. openai:gpt-4o@3"


@dataclass(frozen=True)
class BackendSpec:
    provider: str
    model: str
    weight: float = 1.0  # how often an ensemble picks this backend, relative to the others
    options: ModelOptions = field(default_factory=ModelOptions)


def parse_spec(text: str, defaults: ModelOptions | None = None) -> BackendSpec:
    """The spec's parts; its options are ``defaults`` (else ModelOptions()) with what its query sets."""
    head, _, query = text.strip().partition("?")
    options = parse_options(text, query, defaults or ModelOptions())
    provider, sep, rest = head.partition(":")
    if not sep or not rest:
        raise LLMConfigError(f"bad LLM spec {text!r}: {_FORMAT}")
    if provider not in PROVIDERS:
        raise LLMConfigError(
            f"bad LLM spec {text!r}: unknown provider {provider!r}; known: {', '.join(PROVIDERS)}"
        )
    model, at, weight_text = rest.rpartition("@") if "@" in rest else (rest, "", "")
    if not model:
        raise LLMConfigError(f"bad LLM spec {text!r}: no model name; {_FORMAT}")
    if options.thinking_tokens is not None and provider != "anthropic":
        raise LLMConfigError(f"bad LLM spec {text!r}: thinking is Anthropic's budget; OpenAI-compatible "
                             "reasoning models take effort=low|medium|high")
    return BackendSpec(provider, model, _weight(text, weight_text) if at else 1.0, options)


def _weight(text: str, weight_text: str) -> float:
    try:
        weight = float(weight_text)
    except ValueError:
        weight = math.nan
    if not (math.isfinite(weight) and weight > 0):
        raise LLMConfigError(f"bad LLM spec {text!r}: the weight after @ must be a positive number")
    return weight


def resolve_specs(cli: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The specs of a run: those given on the command line (each may be a comma-separated list),
    else those in ``KERNELEVOLVE_LLM``. An empty list means no LLM: the mechanical tuner alone."""
    env = environ() if env is None else env
    given = list(cli or []) or [env.get(LLM_ENV, "")]
    return [part.strip() for item in given for part in item.split(",") if part.strip()]


def make_backend(
    spec: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_retries: int = 4,
    concurrency: int = 4,
    backoff_s: float = 1.0,
) -> Backend:
    """The backend ``spec`` names (its weight, if any, is the ensemble's business), configured from the
    provider's environment variables; ``timeout_s`` and ``max_retries`` hold where the spec sets no
    timeout or retries. A missing key is reported by ``check()`` and ``complete()``."""
    parsed = parse_spec(spec, ModelOptions(timeout_s=timeout_s, retries=max_retries))
    backend_class, provider_env = PROVIDERS[parsed.provider]
    return backend_class(
        parsed.model,
        resolve_endpoint(provider_env),
        options=parsed.options,
        retry=RetryPolicy(max_retries=parsed.options.retries, backoff_s=backoff_s),
        concurrency=concurrency,
        prices=PriceTable.from_env(),
    )
