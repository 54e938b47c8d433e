"""The recsys suite (the KernelEvolve paper's case-study operators): every problem loads with the
paper's shapes, one out-of-distribution shape and correctness-only check shapes; its structured
inputs keep their structure; and each shipped sample kernel passes the real harness on the
interpreter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kernelevolve.eval.inputs import digest
from kernelevolve.knowledge.retrieval import BUILTIN_ROOT
from kernelevolve.problem import DISTRIBUTIONS, import_problem_module, load_problem

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "suites" / "recsys"
SAMPLES = BUILTIN_ROOT / "samples" / "recsys"

# The shapes the paper reports for each operator, by the names the problem files give them.
PAPER_SHAPES = {
    "conv1d": {"2048x96x96x200", "64x768x768x1024"},
    "map_id_transform": {"100x10000", "10000x8000", "10000x50000"},
    "batch_event_truncate": {"9x200x200", "32x200x200", "1x200x100"},
    "wukong_fm": {"2048x16x128x32", "2048x32x128x32", "2048x64x128x32", "2048x128x128x32"},
    "interformer_pffn": {"B64", "B512", "B2048"},
    "rmsnorm_backward": {"4096x8192", "16384x4096", "32768x1024"},
    "mbdt": {"4096x512x64", "16384x256x32"},
}
OPERATORS = sorted(PAPER_SHAPES)


def problem_path(op: str) -> Path:
    return SUITE / f"{op}.py"


def test_suite_holds_one_problem_and_one_sample_per_operator():
    assert sorted(p.stem for p in SUITE.glob("*.py")) == OPERATORS
    assert sorted(p.stem for p in SAMPLES.glob("*.py")) == OPERATORS


@pytest.mark.parametrize("op", OPERATORS)
def test_problem_declares_paper_shapes_one_ood_shape_and_check_shapes(op):
    problem = load_problem(problem_path(op))
    production = {s.name for s in problem.production_shapes}
    extra = production - PAPER_SHAPES[op]
    assert PAPER_SHAPES[op] <= production
    assert len(extra) == 1 and extra.pop().startswith("ood-")
    assert len([s for s in problem.shapes if not s.timed]) >= 2


@pytest.mark.parametrize("op", OPERATORS)
def test_get_inputs_defaults_are_the_first_production_shape(op):
    module = import_problem_module(problem_path(op))
    first = load_problem(problem_path(op)).production_shapes[0]
    torch.manual_seed(0)
    defaults = module.get_inputs()
    torch.manual_seed(0)
    assert digest(defaults) == digest(module.get_inputs(**first.params))


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_mbdt_borders_stay_sorted_and_ties_occur(dist):
    module = import_problem_module(problem_path("mbdt"))
    torch.manual_seed(7)
    x, borders = module.get_inputs(B=64, F=9, NB=33, dist=dist)
    assert bool((borders[:, 1:] >= borders[:, :-1]).all())
    assert bool((borders[:, 1:] == borders[:, :-1]).any())  # repeated borders
    assert bool(torch.isin(x, borders).any())  # values exactly on a border (right=False matters)


def test_map_id_queries_are_half_present():
    module = import_problem_module(problem_path("map_id_transform"))
    torch.manual_seed(3)
    mapping, ids = module.get_inputs(U=1000, N=4000)
    assert bool((mapping[1:] > mapping[:-1]).all()) and mapping.dtype == ids.dtype == torch.int64
    assert int(torch.isin(ids, mapping).sum()) == 2000
    assert bool((ids < mapping[0]).any()) and bool((ids > mapping[-1]).any())


def test_batch_event_truncate_cuts_some_sequences_and_keeps_empty_ones():
    module = import_problem_module(problem_path("batch_event_truncate"))
    torch.manual_seed(0)
    values, lengths, num_features, max_len = module.get_inputs(F=3, E=9, max_len=7, B=37)
    assert values.numel() == int(lengths.sum()) and lengths.numel() == num_features * 37
    assert bool((lengths > max_len).any()) and bool((lengths == 0).any())


@pytest.mark.parametrize("op", OPERATORS)
def test_sample_passes_the_interpreter_harness(op, interpreter_harness):
    problem = load_problem(problem_path(op))
    # The interpreter runs every program instance in Python: a production-sized check shape of
    # these operators takes tens of seconds on a loaded 2-core machine, more than the default 30 s.
    result = interpreter_harness.evaluate(problem, (SAMPLES / f"{op}.py").read_text(), timeout_s=300)
    assert result.status.value == "ok", result.reason
    checked = {c.shape for c in result.cases}
    assert {s.name for s in problem.shapes if not s.timed} <= checked
