"""Shapes too large for the interpreter are skipped and reported; check shapes still prove correctness."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kernelevolve.eval.harness import HarnessError
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import load_problem

KERNEL = (Path(__file__).parent / "kernels" / "correct_scale_add.py").read_text()
PROBLEM = """
    import torch
    class Model(torch.nn.Module):
        def forward(self, x, y):
            return 2 * x + y
    SHAPES = {{"huge": {{"n": {huge}}}}}
    CHECK_SHAPES = {checks}
    def get_inputs(n=4096):
        return [torch.randn(n), torch.randn(n)]
"""


def problem_file(tmp_path, checks):
    path = tmp_path / "problem.py"
    path.write_text(textwrap.dedent(PROBLEM.format(huge=InterpreterPlatform.max_input_elements, checks=checks)))
    return load_problem(path)


def test_large_production_shape_is_skipped_and_reported(tmp_path, interpreter_harness):
    result = interpreter_harness.evaluate(problem_file(tmp_path, '{"n1000": {"n": 1000}}'), KERNEL)
    assert result.status.value == "ok", result.reason
    assert result.skipped_shapes == ["huge"]
    assert {c.shape for c in result.cases} == {"n1000"}


def test_no_shape_small_enough_is_a_clear_error(tmp_path, interpreter_harness):
    with pytest.raises(HarnessError, match="CHECK_SHAPES"):
        interpreter_harness.evaluate(problem_file(tmp_path, "{}"), KERNEL)


def test_references_are_cached_per_device_model(tmp_path):
    from kernelevolve.eval.harness import Harness

    problem = load_problem(Path(__file__).parent / "problems" / "scale_add.py")
    for model in ("GPU model A", "GPU model B", "GPU model A"):
        with Harness(InterpreterPlatform(model), cache_dir=tmp_path) as harness:
            harness.reference_set(problem)
    assert len(list((tmp_path / "references").iterdir())) == 2
