"""The retry policy on its own: waits, caps, the server's Retry-After, and when it stops."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from kernelevolve.llm import LLMConfigError, LLMRequestError
from kernelevolve.llm.client_errors import retry_after_s
from kernelevolve.llm.retry import AttemptFailed, Failure, RetryPolicy, call_with_retries

TRANSIENT = Failure("HTTP 503", retryable=True, status=503)


def failing(*failures: Failure, result: str = "ok"):
    remaining = list(failures)

    def attempt() -> str:
        if remaining:
            raise AttemptFailed(remaining.pop(0))
        return result

    return attempt


def run(attempt, policy: RetryPolicy):
    waits: list[float] = []
    outcome = call_with_retries(attempt, policy, what="test", rng=random.Random(0), sleep=waits.append)
    return outcome, waits


def test_backoff_doubles_with_jitter_and_is_capped():
    policy = RetryPolicy(max_retries=6, backoff_s=1.0, max_backoff_s=8.0)
    (result, attempts), waits = run(failing(*[TRANSIENT] * 6), policy)
    assert (result, attempts) == ("ok", 7)
    for wait, ceiling in zip(waits, [1, 2, 4, 8, 8, 8]):
        assert ceiling / 2 <= wait <= ceiling


def test_retry_after_replaces_the_backoff_and_is_capped():
    policy = RetryPolicy(backoff_s=5.0, max_retry_after_s=30.0)
    asked = [Failure("429", retryable=True, retry_after_s=s) for s in (0.0, 2.5, 3600.0)]
    _, waits = run(failing(*asked), policy)
    assert waits == [0.0, 2.5, 30.0]


def test_gives_up_after_max_retries_with_the_last_reason():
    with pytest.raises(LLMRequestError, match="gave up after 3 attempts; last failure: HTTP 503") as raised:
        run(failing(*[TRANSIENT] * 5), RetryPolicy(max_retries=2, backoff_s=0.0))
    assert (raised.value.attempts, raised.value.status) == (3, 503)


def test_permanent_failure_stops_at_once_with_its_error_type():
    refused = Failure("HTTP 401", retryable=False, status=401, error=LLMConfigError)
    with pytest.raises(LLMConfigError, match="HTTP 401"):
        run(failing(refused), RetryPolicy())


def test_unexpected_exceptions_are_not_retried():
    def attempt() -> str:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run(attempt, RetryPolicy())


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_header_is_read(headers, expected):
    assert retry_after_s(headers) == expected


def test_retry_after_may_be_a_date():
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert retry_after_s({"retry-after": format_datetime(when, usegmt=True)}) == pytest.approx(30, abs=2)
