"""How the official clients' failures (openai and anthropic raise the same family of exceptions) become
retry decisions: retry 408, 429, 5xx, timeouts, lost connections and malformed replies; stop at the rest."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from types import ModuleType

from kernelevolve.llm.endpoint import Endpoint
from kernelevolve.llm.errors import LLMConfigError, LLMRequestError
from kernelevolve.llm.retry import Failure

RETRYABLE_STATUSES = frozenset({408, 429})  # and every 5xx (529 is Anthropic's "overloaded")
_MAX_REASON_CHARS = 300


class MalformedReply(Exception):
    """A 200 whose body lacks what a completion needs."""


def expected_failures(errors: ModuleType) -> tuple[type[BaseException], ...]:
    """The exceptions a request through the client module ``errors`` may raise that are not bugs."""
    return (errors.APIError, json.JSONDecodeError, MalformedReply, http_library(errors).TransportError)


def http_library(errors: ModuleType) -> ModuleType:
    """The HTTP library under the client, whose own failures (a read that timed out or broke) the
    clients do not wrap once a streamed answer has begun: httpx, or the httpx2 newer clients use."""
    return getattr(errors._base_client, "httpx2", None) or errors._base_client.httpx


def classify(exc: BaseException, errors: ModuleType, endpoint: Endpoint) -> Failure:
    """The failure ``exc`` stands for; ``exc`` is one of ``expected_failures(errors)``."""
    http = http_library(errors)
    if isinstance(exc, (errors.APITimeoutError, http.TimeoutException)):
        return Failure(f"timed out waiting for {endpoint.base_url}", retryable=True, timed_out=True)
    if isinstance(exc, (errors.APIConnectionError, http.TransportError)):
        return Failure(f"cannot connect to {endpoint.base_url}: {_cause(exc)}", retryable=True)
    if isinstance(exc, errors.APIStatusError):
        return status_failure(exc.status_code, exc.response.headers, _short(str(exc)), endpoint)
    return Failure(f"malformed reply from {endpoint.base_url}: {_short(str(exc))}", retryable=True)


def status_failure(status: int, headers: Mapping[str, str], message: str, endpoint: Endpoint) -> Failure:
    reason = f"HTTP {status} from {endpoint.base_url}: {message}"
    if status in RETRYABLE_STATUSES or status >= 500:
        return Failure(reason, retryable=True, retry_after_s=retry_after_s(headers), status=status)
    if status in (401, 403):
        reason += f"; the key was refused: check {endpoint.env.key_var}"
        return Failure(reason, retryable=False, status=status, error=LLMConfigError)
    if status == 404:
        reason += f"; check the model name and {endpoint.env.url_var}"
        return Failure(reason, retryable=False, status=status, error=LLMConfigError)
    return Failure(reason, retryable=False, status=status, error=LLMRequestError)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, or ``retry-after`` in seconds or as a date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000
        except ValueError:
            pass  # a bad retry-after-ms: fall through to retry-after
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass  # not seconds: an HTTP date
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _cause(exc: BaseException) -> str:
    return _short(str(exc.__cause__ or exc))


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REASON_CHARS else text[:_MAX_REASON_CHARS] + " …"
