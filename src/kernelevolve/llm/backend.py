"""What a backend is (the ``Backend`` protocol) and what every official-client backend does around one
request: the concurrency limit (requests in flight at once; a backoff wait holds no slot), the retries,
timing, and token and cost accounting."""

from __future__ import annotations

import importlib
import random
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from kernelevolve.llm.client_errors import classify, expected_failures
from kernelevolve.llm.endpoint import Endpoint
from kernelevolve.llm.errors import LLMConfigError
from kernelevolve.llm.messages import Completion, Message
from kernelevolve.llm.options import ModelOptions
from kernelevolve.llm.prices import PriceTable
from kernelevolve.llm.retry import AttemptFailed, RetryPolicy, call_with_retries

CHECK_TIMEOUT_S = 10.0  # check() is a cheap request: a server slower than this is not ready


class Backend(Protocol):
    name: str  # the provider: 'openai' | 'anthropic'
    model: str
    options: ModelOptions  # how the model is asked: timeout, output tokens, temperature, reasoning

    def complete(self, messages: list[Message]) -> Completion: ...

    def check(self) -> None: ...


@dataclass(frozen=True)
class Reply:
    """What one successful request returned, before accounting. Tokens are None when the server did not
    say; ``input_tokens`` counts the whole prompt, cached and cache-written tokens included."""

    text: str
    model: str
    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0


class ClientBackend:
    """A backend over an official client library; subclasses name it and send one request, as the
    backend's options say. The client's own retries are off, so that ours are the ones that run and
    are counted."""

    name: str
    package: str  # the official client package, imported only when a backend is made
    client_class: str  # its client, which takes api_key, base_url, timeout and max_retries

    def __init__(
        self,
        model: str,
        endpoint: Endpoint,
        *,
        options: ModelOptions,
        retry: RetryPolicy,
        concurrency: int,
        prices: PriceTable,
    ) -> None:
        if concurrency < 1:
            raise LLMConfigError(f"concurrency must be at least 1, not {concurrency}")
        self.model = model
        self.endpoint = endpoint
        self.options = options
        self.retry = retry
        self.prices = prices
        self._slots = threading.BoundedSemaphore(concurrency)
        self._jitter = random.Random()
        self.sdk = import_client(self.package)
        self._client = None if endpoint.api_key is None else self.make_client(endpoint.api_key)

    def make_client(self, api_key: str) -> Any:
        client_class = getattr(self.sdk, self.client_class)
        return client_class(
            api_key=api_key, base_url=self.endpoint.base_url, timeout=self.options.timeout_s, max_retries=0
        )

    def send(self, client: Any, messages: list[Message]) -> Reply:
        raise NotImplementedError

    def probe(self, client: Any, timeout_s: float) -> None:
        """One cheap request that succeeds iff the endpoint answers and accepts the key: list the models."""
        client.models.list(timeout=timeout_s)

    def complete(self, messages: list[Message]) -> Completion:
        client = self._ready_client()
        start = time.monotonic()
        reply, attempts = call_with_retries(
            lambda: self._attempt(client, messages),
            self.retry,
            what=f"{self.name}:{self.model}",
            rng=self._jitter,
        )
        input_tokens, output_tokens = reply.input_tokens or 0, reply.output_tokens or 0
        counted = reply.input_tokens is not None and reply.output_tokens is not None
        cost = (
            self.prices.cost_usd((self.model, reply.model), input_tokens, output_tokens,
                                 reply.cached_input_tokens, reply.cache_write_tokens)
            if counted else None
        )
        return Completion(
            text=reply.text,
            model=reply.model,
            backend=self.name,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
            latency_s=time.monotonic() - start,
            attempts=attempts,
            cached_input_tokens=reply.cached_input_tokens,
            cache_write_tokens=reply.cache_write_tokens,
        )

    def check(self) -> None:
        """Raise LLMConfigError unless the key is there and the endpoint answers a cheap request."""
        client = self._ready_client()
        try:
            self.probe(client, min(self.options.timeout_s, CHECK_TIMEOUT_S))
        except expected_failures(self.sdk) as exc:
            failure = classify(exc, self.sdk, self.endpoint)
            raise LLMConfigError(
                f"{self.name}:{self.model} is not usable: {failure.reason}; {self.endpoint.way_out()}"
            ) from exc

    def _ready_client(self) -> Any:
        self.endpoint.require_key()
        return self._client

    def _attempt(self, client: Any, messages: list[Message]) -> Reply:
        with self._slots:
            try:
                return self.send(client, messages)
            except expected_failures(self.sdk) as exc:
                raise AttemptFailed(classify(exc, self.sdk, self.endpoint)) from exc


def import_client(package: str) -> ModuleType:
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise LLMConfigError(
            f"the {package} package is not installed: pip install 'kernelevolve[llm]'"
        ) from exc
