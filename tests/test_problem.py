"""Loading problem files in both formats, with declared shapes and tolerances."""

from __future__ import annotations

import textwrap

import pytest
import torch

from kernelevolve.eval.inputs import cases_for, make_inputs
from kernelevolve.problem import DISTRIBUTIONS, OWN, ProblemError, import_problem_module, load_problem


def write(tmp_path, text, name="problem.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


KERNELBENCH = """
    import torch
    class Model(torch.nn.Module):
        def __init__(self, k):
            super().__init__()
            self.k = k
        def forward(self, x):
            return x * self.k
    def get_inputs():
        return [torch.randn(8, 8)]
    def get_init_inputs():
        return [3]
"""


def test_kernelbench_problem_gets_one_default_shape(tmp_path):
    problem = load_problem(write(tmp_path, KERNELBENCH))
    assert [s.name for s in problem.shapes] == ["default"]
    assert problem.trials >= 3 and not problem.allow_tf32


def test_artifact_format_with_pytorch_model_loads(tmp_path):
    problem = load_problem(write(tmp_path, KERNELBENCH.replace("class Model", "class PytorchModel")))
    assert problem.shapes


def test_declared_shapes_tolerances_and_tf32(tmp_path):
    text = KERNELBENCH.replace("def get_inputs():", "def get_inputs(n=8):").replace("(8, 8)", "(n, n)") + """
    SHAPES = {"big": {"n": 64}}
    CHECK_SHAPES = [{"n": 5}]
    TOLERANCES = {"float32": (1e-3, 1e-3)}
    ALLOW_TF32 = True
    """
    problem = load_problem(write(tmp_path, text))
    assert [(s.name, s.timed) for s in problem.shapes] == [("big", True), ("n=5", False)]
    assert problem.tolerances["float32"] == (1e-3, 1e-3)
    assert problem.tolerance("float32") == problem.tolerances["float32_tf32"]


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ProblemError, match="neither Model"):
        load_problem(write(tmp_path, "def get_inputs():\n    return []\n"))


def test_trials_draw_every_distribution_and_no_constant_input(tmp_path):
    text = KERNELBENCH.replace("def get_inputs():", "def get_inputs(n=8):").replace("(8, 8)", "(n, n)") + """
    SHAPES = {"a": {"n": 16}, "b": {"n": 9}}
    """
    path = write(tmp_path, text)
    problem = load_problem(path)
    module = import_problem_module(path)
    cases = cases_for(problem)
    assert {c.dist for c in cases} == {OWN, *DISTRIBUTIONS}
    seen = []
    for case in cases:
        (x,) = make_inputs(module, problem, case, "cpu")
        assert x.std() > 0
        seen.append(x)
    assert not any(seen[0].equal(other) for other in seen[1:])
    again = make_inputs(module, problem, cases[0], "cpu")[0]
    assert again.equal(seen[0])  # the reference and the candidate worker draw the same inputs


def test_one_shape_still_draws_its_own_inputs_and_every_distribution(tmp_path):
    path = write(tmp_path, KERNELBENCH.replace("torch.randn(8, 8)", "torch.rand(8, 8)"))
    problem, module = load_problem(path), import_problem_module(path)
    cases = cases_for(problem)
    assert [c.dist for c in cases] == [OWN, *DISTRIBUTIONS]  # 3 trials, then the 2 the rotation missed
    torch.manual_seed(cases[0].seed)
    as_written = torch.rand(8, 8)
    assert make_inputs(module, problem, cases[0], "cpu")[0].equal(as_written)
    assert make_inputs(module, problem, cases[1], "cpu")[0].min() < 0  # a redraw
