"""The worker protocol: the channel between the harness and a worker process, and the typed
failure a worker reports when a candidate ends its evaluation early.

Requests and replies are JSON lines on private copies of the worker's stdin and stdout; fds 0-2
are then pointed away (stdin at /dev/null, stdout and stderr at the worker's log) so that nothing
a candidate prints can reach the protocol. Imported by the worker and the candidate runner.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Iterator
from typing import Any

from kernelevolve.eval.result import Failure

# Messages of errors after which a CUDA context cannot be trusted for the next candidate.
POISONING = ("CUDA error", "illegal memory access", "device-side assert", "unspecified launch failure",
             "HIP error", "CUBLAS_STATUS", "cudaError")
# The Triton exceptions that mean "the compiler refused the kernel".
COMPILE_ERRORS = ("CompilationError", "CompileTimeAssertionFailure", "UnsupportedLanguageConstruct",
                  "OutOfResources", "PTXASError", "InterpreterError")
MAX_MESSAGE_LINES = 12


class Channel:
    """The worker's end of the protocol. Taking it moves fds 0-2 out of the candidate's reach."""

    def __init__(self, log_path: str):
        self._in, self._out = os.dup(0), os.dup(1)
        self._reader: Any = None
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self._out, data):]

    def receive(self) -> dict[str, Any] | None:
        """The harness's next message; None once it has closed its end."""
        if self._reader is None:
            self._reader = os.fdopen(self._in, "rb", buffering=0)
        line = self._reader.readline()
        return json.loads(line) if line else None

    def requests(self) -> Iterator[dict[str, Any]]:
        while (message := self.receive()) is not None:
            yield message


class CandidateFailure(Exception):
    """The candidate ended an evaluation early: a status and the typed failure behind it."""

    def __init__(self, status: str, failure: Failure, poisoned: bool = False):
        super().__init__(failure.sentence())
        self.status, self.failure, self.poisoned = status, failure, poisoned

    @classmethod
    def of(cls, status: str, message: str, case: Any = None, **fields: Any) -> CandidateFailure:
        """A failure with a message, on ``case`` (an inputs.Case) when there is one."""
        return cls(status, Failure(message=message, **_on(case), **fields))

    def reply(self) -> dict[str, Any]:
        return {"status": self.status, "failure": self.failure.model_dump(), "poisoned": self.poisoned}


def _on(case: Any) -> dict[str, Any]:
    return {} if case is None else {"shape": case.shape, "trial": case.trial}


def classify(exc: BaseException, kernel_path: str, case: Any = None, during: str = "") -> CandidateFailure:
    """An exception raised by candidate code, as a status and the fields that decide it."""
    name, module = type(exc).__name__, type(exc).__module__
    message = str(exc).strip()
    kernel_line = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == kernel_path:
            kernel_line = f"kernel.py line {frame.lineno}: {(frame.line or '').strip()}"
    lines = message.splitlines()
    if len(lines) > MAX_MESSAGE_LINES:
        message = "\n".join(lines[-MAX_MESSAGE_LINES:])
    failure = Failure(error_class=name, message=message, kernel_line=kernel_line, during=during, **_on(case))
    if module.startswith("triton") and name in COMPILE_ERRORS:
        return CandidateFailure("compile_error", failure)
    return CandidateFailure("runtime_error", failure, poisoned=any(m in message for m in POISONING))
