"""The exceptions the llm package raises: one base, one for configuration, one for a failed request."""

from __future__ import annotations


class LLMError(Exception):
    """Anything the llm package raises on purpose."""


class LLMConfigError(LLMError):
    """The backend cannot work as configured: a bad spec, a missing key, an endpoint that cannot be
    reached, or an answer that no later request can change (401, 403, 404)."""


class LLMRequestError(LLMError):
    """One request failed: the server refused it (400, 422 …) or it kept failing until the retries ran out."""

    def __init__(self, message: str, *, attempts: int, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status
