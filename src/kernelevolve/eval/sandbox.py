"""What a candidate's process may see: an environment stripped of secrets, and redaction of
anything that still leaks back into text we print."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

# A variable whose *name* suggests a secret never reaches a worker.
SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|AUTH|PRIVATE|COOKIE|SESSION|SIGNATURE|CERT",
    re.IGNORECASE,
)
# Nor does one whose *value* carries a password (a database URL like scheme://user:pass@host).
SECRET_VALUE = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
# Names that point at the user's working directory or the store.
HIDDEN_NAMES = {"PWD", "OLDPWD", "KERNELEVOLVE_STORE", "KERNELEVOLVE_OBJECTS"}
REDACTED = "[redacted]"


def is_secret(name: str, value: str) -> bool:
    return bool(SECRET_NAME.search(name) or SECRET_VALUE.search(value))


def worker_environment(base: Mapping[str, str], scratch: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment minus secrets and pointers to the user's directory."""
    env = {
        name: value
        for name, value in base.items()
        if not is_secret(name, value) and name not in HIDDEN_NAMES
    }
    env.update(extra)
    env["PWD"] = scratch
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Redactor:
    """Replaces the values of the parent's secrets in any text a worker sends back."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        environ = os.environ if environ is None else environ
        values = {v for k, v in environ.items() if is_secret(k, v) and len(v) >= 6}
        self._values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text
