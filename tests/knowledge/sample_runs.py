"""Run every shipped sample against its PyTorch reference on one device; exits 1 on a mismatch.

A script, not a test module: TRITON_INTERPRET must be set before triton is imported, so the tests
start it in a fresh process (``python sample_runs.py cpu`` under the interpreter, ``cuda`` on a GPU).
Exits with SKIP when this Triton's interpreter cannot run loops with runtime bounds at all (Triton
3.6's interpreter with NumPy 2.5 cannot): that is the toolchain's limit, not the samples'.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import torch
import triton
import triton.language as tl
from triton.runtime.errors import InterpreterError

from kernelevolve.knowledge.retrieval import BUILTIN_ROOT
from kernelevolve.problem import DEFAULT_TOLERANCES

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
SKIP = 77
NUMPY_SCALAR_ERROR = "only 0-dimensional arrays can be converted to Python scalars"


@triton.jit
def _loop_probe(x_ptr, n, BLOCK: tl.constexpr):
    for start in range(0, n, BLOCK):
        tl.store(x_ptr + start + tl.arange(0, BLOCK), tl.zeros([BLOCK], tl.float32))


def interpreter_runs_loops() -> bool:
    try:
        _loop_probe[(1,)](torch.empty(8), 8, BLOCK=8)
    except InterpreterError as exc:
        if NUMPY_SCALAR_ERROR in str(exc):
            return False
        raise
    return True


def load_sample(name: str) -> types.ModuleType:
    path = BUILTIN_ROOT / "samples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sample_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(label: str, got: torch.Tensor, expected: torch.Tensor) -> list[str]:
    atol, rtol = DEFAULT_TOLERANCES[str(expected.dtype).replace("torch.", "")]
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return [f"{label}: got {got.dtype}{tuple(got.shape)}, expected {expected.dtype}{tuple(expected.shape)}"]
    if not torch.equal(got.isnan(), expected.isnan()):  # NaN compares false: it would pass the bound below
        return [f"{label}: NaN where the reference has none, or none where it has NaN"]
    excess = (got.double() - expected.double()).abs() - (atol + rtol * expected.double().abs())
    worst = excess.nan_to_num(nan=0.0).max().item()
    return [f"{label}: error exceeds atol + rtol*|ref| by {worst:.3g}"] if worst > 0 else []


def softmax_failures(device: str) -> list[str]:
    model = load_sample("row_softmax").ModelNew()
    failures = []
    for shape in [(5, 123), (3, 4, 1000), (2, 9000), (1, 1)]:
        for dtype in DTYPES:
            x = (torch.randn(shape) * 5).to(dtype).to(device)
            failures += check(f"row_softmax {shape} {dtype}", model(x), torch.softmax(x, dim=-1))
    return failures


def bias_gelu_failures(device: str) -> list[str]:
    failures = []
    for shape in [(7, 33), (2, 5, 300)]:
        for dtype in DTYPES:
            torch.manual_seed(0)
            model = load_sample("bias_gelu").ModelNew(shape[-1]).to(device)
            x = torch.randn(shape).to(dtype).to(device)
            expected = torch.nn.functional.gelu(x + model.bias.to(dtype))
            failures += check(f"bias_gelu {shape} {dtype}", model(x), expected)
    return failures


def jagged_softmax_failures(device: str) -> list[str]:
    model = load_sample("jagged_softmax").ModelNew()
    failures = []
    # Empty sequences (first, middle and last), a single row, odd lengths and one longer than a few blocks.
    lengths = torch.tensor([0, 1, 7, 33, 0, 130, 5, 0])
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths, 0)]).to(device)
    total = int(lengths.sum())
    for columns in [None, 1, 5, 70]:
        for dtype in DTYPES:
            shape = (total,) if columns is None else (total, columns)
            values = (torch.randn(shape) * 5).to(dtype).to(device)
            segments = torch.split(values, lengths.tolist())
            expected = torch.cat([torch.softmax(seg, dim=0) for seg in segments])
            failures += check(f"jagged_softmax {shape} {dtype}", model(values, offsets), expected)
    strided = (torch.randn(9, total) * 5).to(device).t()  # (total, 9), column stride total
    strided[offsets[3] : offsets[4], 2] = float("-inf")  # a column of one sequence all -inf: NaN, as torch gives
    strided[offsets[5] : offsets[5] + 40, 3] = float("-inf")  # masked leading rows, past the first block
    expected = torch.cat([torch.softmax(seg, dim=0) for seg in torch.split(strided, lengths.tolist())])
    failures += check("jagged_softmax strided", model(strided, offsets), expected)
    return failures


def matmul_failures(device: str) -> list[str]:
    model = load_sample("matmul").ModelNew()
    failures = []
    for m, k, n in [(67, 45, 33), (128, 96, 64), (100, 130, 70)]:
        for dtype in DTYPES:
            a = torch.randn(m, k).to(dtype).to(device)
            b = torch.randn(k, n).to(dtype).to(device)
            expected = (a.double() @ b.double()).to(dtype)
            failures += check(f"matmul {(m, k, n)} {dtype}", model(a, b), expected)
    a_t = torch.randn(45, 67).to(device)
    b = torch.randn(45, 20).to(device)
    failures += check("matmul transposed view", model(a_t.t(), b), (a_t.t().double() @ b.double()).float())
    return failures


def main(device: str) -> int:
    if device == "cpu" and not interpreter_runs_loops():
        print(f"this Triton interpreter cannot run loops with runtime bounds: {NUMPY_SCALAR_ERROR}")
        return SKIP
    torch.manual_seed(0)
    with torch.no_grad():
        failures = (softmax_failures(device) + jagged_softmax_failures(device) + bias_gelu_failures(device)
                    + matmul_failures(device))
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
