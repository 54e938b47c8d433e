"""The float64 reference, end to end: a kernel more accurate than PyTorch's float16 reference
passes; a wrong one still fails; a model that cannot run in float64 gets none and says so."""

from __future__ import annotations

import textwrap

from kernelevolve.problem import load_problem

PROBLEM = """
    import torch
    class Model(torch.nn.Module):
        def forward(self, x):
            {body}
    SHAPES = {{"16x2048": {{"R": 16, "K": 2048}}}}
    def get_inputs(R=16, K=2048):
        return [torch.randn(R, K, dtype=torch.float16)]
"""
# Row sums rounded to float16 after every addition, as a float16 accumulator rounds.
RUNNING_SUM = """acc = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            for i in range(x.shape[1]):
                acc = acc + x[:, i]
            return acc"""

KERNEL = """
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def row_sum_kernel(x_ptr, out_ptr, K, LAST, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        acc = tl.zeros((BLOCK,), dtype=tl.float32)
        for start in range(0, K, BLOCK):
            offs = start + tl.arange(0, BLOCK)
            acc += tl.load(x_ptr + row * K + offs, mask=offs < LAST, other=0.0).to(tl.float32)
        tl.store(out_ptr + row, tl.sum(acc, axis=0).to(out_ptr.dtype.element_ty))

    class ModelNew(torch.nn.Module):
        def forward(self, x):
            out = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
            K = x.shape[1]
            row_sum_kernel[(x.shape[0],)](x, out, K, K - {dropped}, BLOCK=512)
            return out
"""


def evaluate(harness, tmp_path, body: str, dropped: int):
    path = tmp_path / "problem.py"
    path.write_text(textwrap.dedent(PROBLEM.format(body=body)))
    return harness.evaluate(load_problem(path), textwrap.dedent(KERNEL.format(dropped=dropped)))


def test_a_kernel_more_accurate_than_the_float16_reference_passes(tmp_path, interpreter_harness):
    result = evaluate(interpreter_harness, tmp_path, RUNNING_SUM, dropped=0)
    assert result.status.value == "ok", result.reason
    assert any(c.by_exact for c in result.cases) and "float64 rule" in result.reason


def test_a_kernel_dropping_a_term_is_still_a_mismatch(tmp_path, interpreter_harness):
    result = evaluate(interpreter_harness, tmp_path, RUNNING_SUM, dropped=1)
    assert result.status.value == "mismatch"
    assert result.cases[-1].mismatch.exact.mismatched > 0
    assert "against the float64 reference too" in result.reason


def test_a_model_that_casts_internally_has_no_float64_reference_and_says_so(tmp_path, interpreter_harness):
    result = evaluate(interpreter_harness, tmp_path, "return x.float().sum(1).half()", dropped=1)
    assert result.status.value == "mismatch"
    assert "no float64 reference for this case: in float64 output 0 is torch.float16" in result.reason
