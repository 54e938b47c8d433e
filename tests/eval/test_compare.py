"""The comparison rules: tolerances by dtype, NaN/Inf positions, exact integers, tiny outputs."""

from __future__ import annotations

import pytest
import torch

from kernelevolve.eval.compare import compare
from kernelevolve.problem import DEFAULT_TOLERANCES


def tol(name):
    return DEFAULT_TOLERANCES.get(name, (0.0, 0.0))


def test_values_within_tolerance_match():
    ref = torch.randn(100)
    assert compare([ref + 1e-6], [ref], tol) is None


@pytest.mark.parametrize(
    "dtype, atol",
    [(torch.float32, 1e-4), (torch.float16, 1e-2), (torch.bfloat16, 2e-2)],
)
def test_error_beyond_the_dtype_tolerance_is_a_mismatch(dtype, atol):
    ref = torch.randn(64).to(dtype)
    got = ref.clone()
    got[5] += 10 * atol + 0.5 * ref[5].abs()
    found = compare([got], [ref], tol)
    assert found is not None and found.first_bad_index == [5] and found.mismatched == 1


def test_nan_positions_must_match():
    ref = torch.tensor([1.0, float("nan"), 3.0])
    assert compare([torch.tensor([1.0, float("nan"), 3.0])], [ref], tol) is None
    found = compare([torch.tensor([1.0, 2.0, 3.0])], [ref], tol)
    assert "NaN/Inf" in found.pattern


def test_infinity_sign_must_match():
    ref = torch.tensor([float("inf"), 1.0])
    found = compare([torch.tensor([-float("inf"), 1.0])], [ref], tol)
    assert found is not None


def test_integer_outputs_must_be_exact():
    ref = torch.arange(10)
    assert compare([ref.clone()], [ref], tol) is None
    got = ref.clone()
    got[3] += 1
    assert compare([got], [ref], tol).mismatched == 1


def test_shape_and_dtype_must_be_exact():
    ref = torch.zeros(4, 4)
    assert "shape" in compare([torch.zeros(16)], [ref], tol).pattern
    assert "dtype" in compare([torch.zeros(4, 4, dtype=torch.float64)], [ref], tol).pattern


def test_output_count_must_match():
    assert "returned 1 outputs" in compare([torch.zeros(2)], [torch.zeros(2), torch.zeros(2)], tol).pattern


def test_zeros_do_not_pass_for_a_tiny_reference():
    ref = torch.randn(1000) * 1e-6  # well inside atol = 1e-4
    found = compare([torch.zeros_like(ref)], [ref], tol)
    assert found is not None and "tiny" in found.pattern


def test_a_ragged_tail_is_described():
    ref = torch.randn(8, 100)
    got = ref.clone()
    got[:, 96:] = 0
    assert "column 96" in compare([got], [ref], tol).pattern


def running_sum(x: torch.Tensor) -> torch.Tensor:
    """Row sums rounded to x's dtype after every addition, as a float16 accumulator rounds."""
    acc = torch.zeros(x.shape[0], dtype=x.dtype)
    for i in range(x.shape[1]):
        acc = acc + x[:, i]
    return acc


def fp16_sums():
    x = torch.randn(32, 2048, generator=torch.Generator().manual_seed(0)).half()
    return x, running_sum(x), running_sum(x.double())


def test_an_output_closer_to_the_exact_answer_than_pytorch_passes_the_float64_rule():
    x, reference, exact = fp16_sums()
    accurate = x.float().sum(1).half()  # float32 accumulation, one rounding
    assert compare([accurate], [reference], tol) is not None  # outside tolerance of PyTorch's own output
    assert compare([accurate], [reference], tol, [exact]) is None


@pytest.mark.parametrize("wrong", ["drops the last term", "3% too large"])
def test_a_wrong_output_still_fails_the_float64_rule(wrong):
    x, reference, exact = fp16_sums()
    out = x[:, :-1].float().sum(1).half() if wrong == "drops the last term" else (x.float().sum(1) * 1.03).half()
    found = compare([out], [reference], tol, [exact])
    assert found is not None and found.exact is not None and found.exact.mismatched > 0


def test_zeros_do_not_pass_a_tiny_reference_through_the_float64_rule():
    ref = torch.randn(1000) * 1e-6
    assert compare([torch.zeros_like(ref)], [ref], tol, [ref.double()]) is not None


def test_nan_positions_are_not_excused_by_the_float64_rule():
    x, reference, exact = fp16_sums()
    out = x.float().sum(1).half()
    out[3] = float("nan")
    assert "NaN/Inf" in compare([out], [reference], tol, [exact]).pattern
