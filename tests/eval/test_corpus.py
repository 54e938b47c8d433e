"""Library-style kernels that are correct must be judged ok: the anti-cheat rules refuse cheats,
not the patterns real Triton code is written in."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.problem import load_problem

HERE = Path(__file__).parent

# corpus kernel -> the problem it solves
CORPUS = {
    "two_stage_column_sum": "column_grad_sum",
    "autotuned_scale_add": "scale_add",
    "autograd_function_scale_add": "scale_add",
    "row_sum_small_epilogue": "row_sum_bias",
    "cross_entropy_bounds_checked": "cross_entropy",
}


def test_every_corpus_kernel_has_a_problem():
    assert {p.stem for p in (HERE / "corpus").glob("*.py")} == set(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_library_style_kernel_is_ok(name, interpreter_harness):
    problem = load_problem(HERE / "problems" / f"{CORPUS[name]}.py")
    result = interpreter_harness.evaluate(problem, (HERE / "corpus" / f"{name}.py").read_text())
    assert result.status.value == "ok", result.reason
