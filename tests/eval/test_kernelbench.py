"""KernelBench-style files as they are written (module-level sizes, torch.rand inputs, nn.LayerNorm
and nn.Linear parameters, dropout): judged on the interpreter at check sizes it reports, on their
own inputs and every redraw, with parameters perturbed, and with the problem blamed where the
problem is at fault."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from kernelevolve.eval.check_sizes import (
    count_elements,
    fit,
    fitted,
    halved,
)
from kernelevolve.eval.guard import CallRecord, ComputeOp
from kernelevolve.eval.harness import HarnessError, problem_notes
from kernelevolve.eval.inputs import cases_for
from kernelevolve.eval.parameters import perturb_like, perturb_reference
from kernelevolve.eval.problem_checks import oversized
from kernelevolve.eval.result import Status
from kernelevolve.eval.rules import violations
from kernelevolve.eval.static import check_signatures
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import DISTRIBUTIONS, OWN, import_problem_module, load_problem
from kernelevolve.reference import describe_reference

FILES = Path(__file__).parent / "kernelbench"


def problem(name: str):
    return load_problem(FILES / f"{name}.py")


def kernel(name: str) -> str:
    return (FILES / f"{name}.py").read_text()


def write(tmp_path: Path, text: str, name: str = "problem.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# -- through the harness, on the interpreter ---------------------------------------------------------

# The interpreter runs 64 rows of 16383 (the check sizes at its own limit) in about a second a call;
# the harness tests below lower the limit 64-fold to judge the same file in a fraction of that.
INTERPRETER_MAX_ELEMENTS = InterpreterPlatform.max_input_elements
TEST_LIMIT = INTERPRETER_MAX_ELEMENTS // 64


@pytest.fixture
def test_limit(monkeypatch):
    monkeypatch.setattr(InterpreterPlatform, "max_input_elements", TEST_LIMIT)


def test_check_sizes_halve_the_largest_size_until_the_interpreter_limit_holds():
    judged = fitted(problem("layernorm"), INTERPRETER_MAX_ELEMENTS)
    assert judged.sizes == {"features": 16383}  # 65535 halved, kept odd; batch_size 64 untouched
    assert [s.name for s in judged.shapes] == ["features=16383"]


def test_a_full_size_file_is_judged_at_check_sizes_that_it_reports(interpreter_harness, test_limit):
    result = interpreter_harness.evaluate(problem("layernorm"), kernel("layernorm_kernel"))
    assert result.status is Status.ok, result.reason
    assert {c.shape for c in result.cases} == {"features=255"}
    assert result.notes == [(f"judged at check sizes features=255 (the file's 65535): at its own sizes it holds "
                             f"8,388,480 input and output elements, over the interpreter's {TEST_LIMIT:,}")]
    assert [c.distribution for c in result.cases] == [OWN, *DISTRIBUTIONS]


def test_a_candidate_ignoring_layernorm_weight_and_bias_fails_on_perturbed_parameters(interpreter_harness, test_limit):
    ignores_them = kernel("layernorm_kernel").replace("AFFINE=True", "AFFINE=False")
    result = interpreter_harness.evaluate(problem("layernorm"), ignores_them)
    assert result.status is Status.mismatch


def test_a_hybrid_candidate_keeps_the_gemm_the_problem_allows(interpreter_harness):
    result = interpreter_harness.evaluate(problem("linear_relu_hybrid"), kernel("hybrid_kernel"))
    assert result.status is Status.ok, result.reason


def test_a_random_reference_is_the_problems_fault_before_any_candidate(interpreter_harness):
    with pytest.raises(HarnessError, match=r"the reference is random: .*`self\.eval\(\)`"):
        interpreter_harness.reference_set(problem("linear_dropout"))


def test_inputs_a_fixed_seed_does_not_fix_are_the_problems_fault(interpreter_harness):
    with pytest.raises(HarnessError, match="get_inputs\\(\\) is not deterministic under a fixed seed"):
        interpreter_harness.reference_set(problem("unseeded_inputs"))


def test_redraws_that_make_the_reference_nan_are_dropped_and_said(interpreter_harness):
    kl = problem("kl_div")
    refs = interpreter_harness.reference_set(kl)
    assert {c.get("dropped") for c in refs.cases.values()} == {None, *DISTRIBUTIONS}
    assert "default.t0" in refs.cases and "digest" in refs.cases["default.t0"]  # its own inputs stay
    assert "redrawn heavy_tailed, large, normal, uniform inputs" in problem_notes(kl, refs)[0]


def test_a_file_that_cannot_be_shrunk_fails_in_one_sentence_before_any_work(interpreter_harness, tmp_path):
    path = write(tmp_path, """
        import torch
        class Model(torch.nn.Module):
            def forward(self, x):
                return x + 1
        def get_inputs():
            return [torch.rand(4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4)]
        def get_init_inputs():
            return []
    """)
    with pytest.raises(HarnessError, match=r"holds 8,388,608 input and output elements at its own sizes, "
                                           r"over the interpreter's 2,097,152, and cannot be shrunk: .*no module-level"):
        interpreter_harness.judged(load_problem(path))


def test_a_candidate_that_cannot_take_the_reference_signature_is_told_which(interpreter_harness):
    source = kernel("hybrid_kernel").replace("def __init__(self, in_features: int, out_features: int):",
                                             "def __init__(self, features: int):")
    result = interpreter_harness.evaluate(problem("linear_relu_hybrid"), source)
    assert result.status is Status.runtime_error
    assert result.reason == (
        "constructing ModelNew failed: TypeError: the harness builds it as the reference is built, ModelNew(20, 48) "
        "with the values of get_init_inputs(), and `def __init__(self, features: int)` does not take 2 positional "
        "argument(s); write it as the reference's `def __init__(self, in_features: int, out_features: int)`")


# -- the pieces, in this process -------------------------------------------------------------------

def test_forward_that_cannot_take_the_inputs_is_told_the_reference_forward():
    facts = describe_reference(problem("kl_div"))
    source = "class ModelNew(nn.Module):\n    def forward(self, predictions):\n        pass\n"
    result = check_signatures(source, facts)
    assert result.failure.during == "calling ModelNew.forward"
    assert "2 input(s) (predictions, targets)" in result.reason
    assert result.reason.endswith("`def forward(self, predictions, targets)`")
    assert check_signatures(source.replace("predictions)", "*inputs)"), facts) is None


def test_check_sizes_keep_odd_sizes_odd_and_powers_of_two():
    assert [halved(v) for v in (4096, 4095, 1000, 250, 17)] == [2048, 2047, 500, 125, 9]


def test_a_size_the_reference_needs_divisible_is_kept(tmp_path):
    path = write(tmp_path, """
        import torch
        class Model(torch.nn.Module):
            def __init__(self, embed, heads):
                super().__init__()
                self.attention = torch.nn.MultiheadAttention(embed, heads, batch_first=True)
            def forward(self, x):
                return self.attention(x, x, x, need_weights=False)[0]
        batch_size, seq_len, embed_dim, num_heads = 64, 512, 100, 4
        def get_inputs():
            return [torch.rand(batch_size, seq_len, embed_dim)]
        def get_init_inputs():
            return [embed_dim, num_heads]
    """)
    sizes = fit(import_problem_module(path), 1 << 16)
    assert "embed_dim" not in sizes.judged  # 50 does not divide among 4 heads: 100 stays
    assert sizes.judged == {"batch_size": 16, "seq_len": 16}
    assert sizes.count.elements <= 1 << 16 and sizes.count.outputs is not None


def test_outputs_are_counted_on_the_meta_device(tmp_path):
    path = write(tmp_path, """
        import torch
        class Model(torch.nn.Module):
            def forward(self, a, b):
                return a @ b
        M, K, N = 1 << 20, 16, 1 << 20
        def get_inputs():
            return [torch.rand(M, K), torch.rand(K, N)]
        def get_init_inputs():
            return []
    """)
    count = count_elements(import_problem_module(path), {})
    assert (count.inputs, count.outputs) == (2 * 16 * (1 << 20), 1 << 40)  # 4 TiB of output, never allocated
    assert fitted(load_problem(path), INTERPRETER_MAX_ELEMENTS).shapes[0].name == "M=1024,N=1024"


def test_a_shape_that_cannot_be_counted_on_meta_is_refused_not_made(tmp_path):
    path = write(tmp_path, """
        import torch
        class Model(torch.nn.Module):
            def forward(self, x):
                return x
        SHAPES = {"huge": {"n": 1 << 40}}
        CHECK_SHAPES = {"small": {"n": 5}}
        def get_inputs(n=5):
            size = torch.tensor(n).item()  # needs real data: no meta kernel for .item()
            return [torch.rand(size)]
        def get_init_inputs():
            return []
    """)
    prob, module = load_problem(path), import_problem_module(path)
    huge, small = (next(c for c in cases_for(prob) if c.shape == name) for name in ("huge", "small"))
    counted: dict = {}
    assert "cannot be counted on the meta device" in oversized(module, prob, huge, 1 << 21, counted)["why"]
    assert oversized(module, prob, small, 1 << 21, counted) is None  # a check shape is made for real


def test_identity_parameters_get_one_perturbation_matched_by_name_or_order():
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.LayerNorm(6), torch.nn.Linear(6, 3))
    reference.register_buffer("mask", torch.tril(torch.ones(3, 3)))
    torch.manual_seed(0)
    same_names = torch.nn.Sequential(torch.nn.LayerNorm(6), torch.nn.Linear(6, 3))
    torch.manual_seed(0)
    other_names = torch.nn.ModuleDict({"norm": torch.nn.LayerNorm(6), "proj": torch.nn.Linear(6, 3)})
    made = perturb_reference(reference)
    ln = reference[0]
    assert not torch.equal(ln.weight, torch.ones(6)) and bool((ln.weight > 0).all())  # scaled: stays positive
    assert not torch.equal(ln.bias, torch.zeros(6))
    assert torch.equal(reference.mask, torch.tril(torch.ones(3, 3)))  # a mask carries structure: kept
    for model in (same_names, other_names):
        perturb_like(model, made)
        assert [torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters())] == [True] * 4


def test_parameters_can_be_left_as_built(tmp_path):
    path = write(tmp_path, (FILES / "layernorm.py").read_text() + "\nPERTURB_PARAMETERS = False\n")
    assert not load_problem(path).perturb_parameters


def test_allowed_torch_ops_are_exempt_from_the_ten_percent_rule_only():
    record = CallRecord(launches=1, compute_ops=[ComputeOp("addmm", 960, 0, frozenset())])
    assert "aten.addmm on 960 elements" in violations(record, [], 960)[0]
    assert violations(record, [], 960, frozenset({"addmm"})) == []
    assert problem("linear_relu_hybrid").allow_torch_ops == ["addmm", "mm"]
    other = CallRecord(launches=1, compute_ops=[ComputeOp("relu", 960, 0, frozenset())])
    assert violations(other, [], 960, frozenset({"addmm"}))
