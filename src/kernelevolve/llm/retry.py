"""The retry policy: which failures are tried again, how long to wait (exponential backoff with jitter,
or the server's Retry-After, capped), and when to give up."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from kernelevolve.llm.errors import LLMError, LLMRequestError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """One failed attempt, as the policy sees it."""

    reason: str
    retryable: bool
    retry_after_s: float | None = None  # what the server asked for, when it did
    status: int | None = None
    error: type[LLMError] = LLMRequestError  # what to raise when it is not retried
    timed_out: bool = False


class AttemptFailed(Exception):
    """Raised by an attempt to hand its classified failure to ``call_with_retries``."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4  # retries after the first attempt
    backoff_s: float = 1.0  # the first wait; each later one doubles
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 60.0  # a server asking for longer is not waited for that long
    max_timeout_retries: int = 1  # a request that timed out waited as long as asked: once more at most

    def delay_s(self, retry: int, failure: Failure, rng: random.Random) -> float:
        """How long to wait before retry number ``retry`` (0 for the first)."""
        if failure.retry_after_s is not None:
            return min(max(failure.retry_after_s, 0.0), self.max_retry_after_s)
        ceiling = min(self.max_backoff_s, self.backoff_s * 2**retry)
        # Half fixed, half random: spreads out threads that failed together without waiting for nothing.
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def call_with_retries(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run ``attempt`` until it returns, retrying the failures it raises as retryable ``AttemptFailed``.

    Returns the result and the number of attempts made. ``what`` names the request in error messages.
    """
    attempts = timeouts = 0
    while True:
        attempts += 1
        try:
            return attempt(), attempts
        except AttemptFailed as exc:
            failure = exc.failure
        timeouts += failure.timed_out
        if not failure.retryable:
            raise _error(failure.error, f"{what} (not retried): {failure.reason}", attempts, failure)
        if attempts > policy.max_retries or timeouts > policy.max_timeout_retries:
            message = f"{what}: gave up after {attempts} attempts; last failure: {failure.reason}"
            raise _error(LLMRequestError, message, attempts, failure)
        delay = policy.delay_s(attempts - 1, failure, rng)
        log.warning(
            "%s: %s; retry %d of %d in %.1f s", what, failure.reason, attempts, policy.max_retries, delay
        )
        sleep(delay)


def _error(kind: type[LLMError], message: str, attempts: int, failure: Failure) -> LLMError:
    if issubclass(kind, LLMRequestError):
        return kind(message, attempts=attempts, status=failure.status)
    return kind(message)
