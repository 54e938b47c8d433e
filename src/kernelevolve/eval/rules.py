"""The anti-cheat rules: reasons to reject one watched call, read from its ``CallRecord``.

Numbers are documented in docs/correctness.md (Anti-cheat).
"""

from __future__ import annotations

import torch

from kernelevolve.eval import hostreads
from kernelevolve.eval.guard import CallRecord, storage_digest
from kernelevolve.eval.storage import storage_key

# A PyTorch compute op reading this fraction of the problem's largest tensor computes the answer.
LARGE_FRACTION = 0.10
# PyTorch may finish what the Triton kernels made (partials.sum(0), a bias add, a rescale) while
# everything it reads of that data stays below this fraction of the input and parameter elements
# the kernels received: per-program partials are far smaller than what produced them, and a
# Triton copy of the inputs, to be computed on in PyTorch, is not.
EPILOGUE_FRACTION = 0.25


def violations(record: CallRecord, outputs: list[torch.Tensor], scale: int,
               allowed: frozenset[str] = frozenset()) -> list[str]:
    """Reasons to reject one call; ``scale`` is the numel of the problem's largest tensor;
    ``allowed``: the operators the problem's ``ALLOW_TORCH_OPS`` lets a candidate compute with."""
    reasons: list[str] = []
    if record.launches == 0:
        reasons.append("launches no Triton kernel: the result must be computed by a @triton.jit kernel")
    if record.random_ops:
        reasons.append(
            f"draws random numbers ({', '.join(sorted(set(record.random_ops)))}): a candidate must not "
            "make its own inputs"
        )
    if record.processes_started:
        reasons.append(f"starts {record.processes_started} process(es) during the call: work in another "
                       "process escapes the guard and the timing")
    if record.threads_started:
        reasons.append(f"starts {record.threads_started} thread(s) during the call: work off the calling "
                       "thread can escape timing")
    if record.side_stream_launches:
        reasons.append("launches Triton kernels on a side stream, which escapes timing")
    host = hostreads.violation(record, scale)
    if host:
        reasons.append(host)
    reasons += _pytorch_compute(record, outputs, scale, allowed)
    reasons += _output_origin(record, outputs)
    return reasons


def _pytorch_compute(record: CallRecord, outputs: list[torch.Tensor], scale: int, allowed: frozenset[str]) -> list[str]:
    out_keys = {storage_key(o) for o in outputs}
    threshold = max(1, int(LARGE_FRACTION * scale))
    ops = [op for op in record.compute_ops if op.name not in allowed]  # a hybrid's library GEMM: the problem's word
    for op in ops:
        if op.largest_other >= threshold:
            return [f"computes with the PyTorch operator aten.{op.name} on {op.largest_other} elements "
                    f"(the problem's largest tensor has {scale}): compute must happen in Triton kernels"]
        if not op.produced_reads and op.writes & out_keys:
            return [f"modifies its output with the PyTorch operator aten.{op.name}, from data no Triton "
                    "kernel of this call made"]
    finished = [op for op in ops if op.produced_reads]
    read = sum(op.produced_reads for op in finished)
    received = record.received_source_elements()
    if read > EPILOGUE_FRACTION * received:
        names = ", ".join(sorted({f"aten.{op.name}" for op in finished}))
        return [f"computes in PyTorch ({names}) on {read} elements its Triton kernels made, more than "
                f"{EPILOGUE_FRACTION:g} of the {received} input and parameter elements those kernels received: "
                "PyTorch may only finish small partial results"]
    return []


def _output_origin(record: CallRecord, outputs: list[torch.Tensor]) -> list[str]:
    for i, out in enumerate(outputs):
        key = storage_key(out)
        if key in record.copied_into:
            return [f"output {i} was overwritten by a PyTorch copy after its last Triton kernel"]
        if key in record.after_launch and storage_digest(out) != record.after_launch[key]:
            return [f"output {i} changed after its last Triton kernel, outside PyTorch and Triton "
                    "(written through a NumPy view or raw memory)"]
        if record.launches and key not in record.produced and out.numel():
            return [f"output {i} was not written by any Triton kernel launched in this call, nor computed "
                    "from what they wrote (it comes from PyTorch, from the inputs or from an earlier call)"]
    return []
