"""Triton's CPU interpreter (``TRITON_INTERPRET=1``, tensors on the CPU): it proves correctness and
plumbing, not speed, and runs every program instance in Python."""

from __future__ import annotations

from dataclasses import dataclass

from kernelevolve.platform.base import Platform


@dataclass(frozen=True)
class InterpreterPlatform(Platform):
    name = "interpreter"
    device = "cpu"
    vendor = "cpu"
    search_terms = "interpreter cpu"
    prompt_note = ("the Triton CPU interpreter (platform `interpreter`, TRITON_INTERPRET=1, tensors on the CPU); "
                   "it proves correctness only and does not time kernels")
    timed = False  # timing the interpreter measures Python, not the kernel
    needs_gpu = False
    triton_interpreter = True
    # Shapes with more input elements than this are left to a GPU; CHECK_SHAPES carry correctness here.
    max_input_elements = 1 << 21

    def worker_env(self) -> dict[str, str]:
        return {"TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""}

    @classmethod
    def detect(cls) -> InterpreterPlatform:
        return cls()
