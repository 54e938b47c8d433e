"""The interface every platform implements: what a target is, for the harness (device, worker
environment, whether timing means anything, input limits), for Ray (whether an actor needs a GPU)
and for the operators (the knowledge base's vendor folder, retrieval words, the prompt's note)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class PlatformError(Exception):
    """The requested platform is not available on this machine."""


@dataclass(frozen=True)
class Platform:
    """One target. Each platform is a subclass in a module of its own (``cuda.py``, ``rocm.py``,
    ``interpreter.py``; ``mtia.py`` is where an MTIA plug-in goes), listed in ``PLATFORMS``."""

    device_name: str = ""  # the GPU's model ("" on the interpreter): cached results never cross models

    name: ClassVar[str]
    device: ClassVar[str]  # torch device string for inputs and outputs
    vendor: ClassVar[str]  # the knowledge base's hardware/<vendor>/ folder
    search_terms: ClassVar[str]  # words retrieval adds for this platform
    prompt_note: ClassVar[str]  # what the prompt says the kernel runs on
    timed: ClassVar[bool] = True  # whether timing measures the kernel (speedups mean something)
    needs_gpu: ClassVar[bool] = True  # a Ray actor for it takes a GPU
    triton_interpreter: ClassVar[bool] = False  # kernels run on Triton's interpreter (eval/interpreter_limits.py)
    max_input_elements: ClassVar[int | None] = None  # larger shapes are left to a GPU and reported as skipped
    profiler: ClassVar[str | None] = None  # the hardware profiler --profile runs ("ncu"), None where there is none

    def describe(self) -> str:
        """What the prompt says the kernel runs on: the platform's note, and what this machine detected
        of its device where the platform detects one."""
        return self.prompt_note

    def worker_env(self) -> dict[str, str]:
        """What a worker's environment needs before triton is imported."""
        return {"TRITON_INTERPRET": "0"}

    @classmethod
    def detect(cls) -> Platform:
        """This platform on this machine; PlatformError (saying what to do) where it is absent."""
        raise NotImplementedError
