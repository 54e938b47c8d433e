"""Every output type docs/problems.md allows works end to end; any other is one clear error."""

from __future__ import annotations

import textwrap

import pytest

from kernelevolve.eval.harness import HarnessError
from kernelevolve.problem import load_problem

PROBLEM = """
    import torch
    class Model(torch.nn.Module):
        def forward(self, x, y):
            return {returns}
    SHAPES = {{"n1000": {{"n": 1000}}}}
    def get_inputs(n=1000):
        return [torch.randn(n), torch.randn(n)]
"""

KERNEL = """
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def sum_diff_kernel(x_ptr, y_ptr, sum_ptr, diff_ptr, total_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0)
        y = tl.load(y_ptr + offs, mask=mask, other=0.0)
        tl.store(sum_ptr + offs, x + y, mask=mask)
        tl.store(diff_ptr + offs, x - y, mask=mask)
        tl.store(total_ptr, tl.sum(x + y, axis=0))

    class ModelNew(torch.nn.Module):
        def forward(self, x, y):
            s, d, total = torch.empty_like(x), torch.empty_like(x), torch.empty((), dtype=x.dtype)
            sum_diff_kernel[(1,)](x, y, s, d, total, x.numel(), BLOCK=triton.next_power_of_2(x.numel()))
            return {returns}
"""


def evaluate(harness, tmp_path, reference: str, candidate: str):
    path = tmp_path / "problem.py"
    path.write_text(textwrap.dedent(PROBLEM.format(returns=reference)))
    return harness.evaluate(load_problem(path), textwrap.dedent(KERNEL.format(returns=candidate)))


def test_a_dict_of_tensors_is_compared_key_by_key(tmp_path, interpreter_harness):
    result = evaluate(interpreter_harness, tmp_path, '{"sum": x + y, "diff": x - y}', '{"diff": d, "sum": s}')
    assert result.status.value == "ok", result.reason


def test_a_dict_with_swapped_values_is_a_mismatch(tmp_path, interpreter_harness):
    result = evaluate(interpreter_harness, tmp_path, '{"sum": x + y, "diff": x - y}', '{"diff": s, "sum": d}')
    assert result.status.value == "mismatch"


def test_a_python_float_is_compared_as_a_0d_tensor(tmp_path, interpreter_harness):
    result = evaluate(interpreter_harness, tmp_path, "(x + y).sum().item()", "total")
    assert result.status.value == "ok", result.reason


def test_a_different_container_is_a_mismatch_naming_both(tmp_path, interpreter_harness):
    result = evaluate(interpreter_harness, tmp_path, '{"sum": x + y, "diff": x - y}', "(d, s)")
    assert result.status.value == "mismatch"
    assert "returns a sequence of 2, the reference returns a dict with keys 'diff', 'sum'" in result.reason


@pytest.mark.parametrize("returns, named", [
    ("None", "returns a NoneType"),
    ('{"sum": x + y, "name": "total"}', "returns a str in output 0 of a dict"),
    ("((x, y), x)", "returns a tuple in output 0 of a sequence of 2"),
    ("()", "there is no output to compare"),
])
def test_an_unsupported_reference_output_is_one_clear_error(tmp_path, interpreter_harness, returns, named):
    with pytest.raises(HarnessError) as caught:
        evaluate(interpreter_harness, tmp_path, returns, "s")
    message = str(caught.value)
    assert named in message and "\n" not in message
