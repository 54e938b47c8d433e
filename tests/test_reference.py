"""Reference facts: which code counts as the user's, what cannot be shown or is cut, and what the
inputs and the constructor are said to be."""

from __future__ import annotations

import py_compile
import sys

import torch

from kernelevolve import reference
from kernelevolve.problem import load_problem
from kernelevolve.reference import describe_reference
from tests.reference_layouts import write, write_layout

SOFTMAX_ROWS = """
    import torch

    class PytorchModel(torch.nn.Module):
        def forward(self, p, borders):
            return p @ borders.T

    def get_inputs(n=16, dist="normal"):
        return [torch.softmax(torch.randn(n, 32), -1), torch.randn(n, 32).sort(-1).values]
"""


def test_a_third_party_package_in_site_packages_is_not_shown(tmp_path, isolated_imports):
    path = write_layout("installed", tmp_path, isolated_imports)
    write(tmp_path / "site-packages" / "otherlib.py", "def double(x):\n    return 2 * x\n")
    layers = tmp_path / "site-packages" / "instlib" / "layers.py"
    layers.write_text("import otherlib\n" + layers.read_text().replace("[idx]", "[otherlib.double(idx)]"))
    facts = describe_reference(load_problem(path))
    shown = [piece.where.split(" ")[0] for piece in facts.code]
    assert shown == ["instlib.layers.GatedScale", "instlib.gates.gate", "instlib.gates.EPS"]
    assert "otherlib.double(idx)" in facts.code[0].text and not facts.notes


def test_user_code_without_python_source_gets_a_note(tmp_path, isolated_imports):
    py_compile.compile(str(write(tmp_path / "fastops_src.py", "def fused(x):\n    return x\n")),
                       cfile=str(tmp_path / "fastops.pyc"), dfile=str(tmp_path / "fastops.py"))
    isolated_imports.syspath_prepend(str(tmp_path))
    problem = write(tmp_path / "problem.py", """
        import torch
        import fastops

        class Model(torch.nn.Module):
            def forward(self, x):
                return fastops.fused(x)

        def get_inputs():
            return [torch.randn(8)]
    """)
    try:
        facts = describe_reference(load_problem(problem))
    finally:
        sys.modules.pop("fastops", None)
    assert facts.defined_inline and facts.code == []
    assert facts.notes == ["`fastops.fused` has no Python source to show (a C extension or compiled module)"]


def test_code_over_the_budget_is_cut_and_what_is_left_out_is_named(tmp_path, isolated_imports, monkeypatch):
    monkeypatch.setattr(reference, "CODE_CHARS", 200)
    facts = describe_reference(load_problem(write_layout("installed", tmp_path, isolated_imports)))
    assert len(facts.code) == 1 and facts.code[0].text.endswith(reference.CUT)
    assert len(facts.code[0].text) <= 200
    assert facts.notes[0].startswith("`instlib.layers.GatedScale (layers.py:") and "is cut to 200 characters" in facts.notes[0]
    assert any(note.startswith("`instlib.gates.gate (gates.py:") and "left out for length" in note for note in facts.notes)


def test_inputs_a_problem_draws_itself_are_described_over_every_distribution(tmp_path):
    state = torch.get_rng_state()
    facts = describe_reference(load_problem(write(tmp_path / "problem.py", SOFTMAX_ROWS)))
    assert torch.equal(torch.get_rng_state(), state)  # the search process's own draws are not disturbed
    p, borders = facts.inputs
    assert (p.name, p.kind, borders.name, borders.kind) == ("p", "float32 [16, 32]", "borders", "float32 [16, 32]")
    assert "probabilities: each row (last dimension) sums to 1" in p.values
    assert "sorted along the last dimension" in borders.values and "probabilities" not in borders.values
    assert p.values.endswith("over the distributions normal, uniform, heavy_tailed, large")


def test_a_reference_with_nn_modules_constructor_is_built_without_arguments(tmp_path):
    facts = describe_reference(load_problem(write(tmp_path / "problem.py", SOFTMAX_ROWS)))
    assert (facts.bound_name, facts.init_signature, facts.init_arguments) == ("PytorchModel", "def __init__(self)", "")
    assert facts.forward_signature == "def forward(self, p, borders)"


def test_init_values_the_constructor_rejects_get_a_note(tmp_path, isolated_imports):
    path = write_layout("inline", tmp_path, isolated_imports)
    path.write_text(path.read_text().replace("return [64, 0.25]", "return [64, 0.25, 'extra']"))
    facts = describe_reference(load_problem(path))
    assert facts.init_arguments == "64, 0.25, 'extra'" and facts.init_bound == ""
    assert facts.notes == ["get_init_inputs() returns (64, 0.25, 'extra'), which "
                           "`def __init__(self, hidden: int, alpha: float=0.5)` does not accept (too many positional arguments)"]
