"""The tuner's joint search (Optuna): its state is the graph's nodes, it never proposes a point
twice, it learns infeasible regions from resource failures, and it takes turns on the shapes."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import pytest

from kernelevolve.graph import Graph, NodeView
from kernelevolve.operators.base import ExpansionContext
from kernelevolve.operators.config_search import OptunaSearch, objective_of
from kernelevolve.operators.space import Trial, space_of
from kernelevolve.operators.tuner import Tuner, tunable_parameters
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import Problem, Shape

pytest.importorskip("optuna")

DATA = Path(__file__).parent / "data"
SOURCE = (DATA / "scaled_add.py").read_text()  # BLOCK_SIZE = 1024, num_warps=4
PROBLEM = Problem(Path("problem.py"), "", "", [], {}, allow_tf32=False, trials=3)
SMALL = {("BLOCK_SIZE", 0): (256, 512, 1024, 2048), ("num_warps", 0): (2, 4, 8)}  # 12 points


def node(node_id: int, source: str, parent: int | None = None, score: float = 1.0, status: str = "ok",
         result: dict | None = None) -> NodeView:
    digest = hashlib.sha256(source.encode()).hexdigest()
    return NodeView(node_id, parent, score, status != "ok", status, "tuner", digest, source, result or {})


def propose(nodes: list[NodeView], search: OptunaSearch, seed: int = 0, problem: Problem = PROBLEM):
    ctx = ExpansionContext(problem, nodes[-1] if nodes[-1].status == "ok" else nodes[0], Graph(nodes),
                           InterpreterPlatform(), random.Random(seed))
    return Tuner(search).propose(ctx)


def config(source: str) -> tuple[int, int]:
    params = tunable_parameters(source)
    return params["BLOCK_SIZE"][0], params["num_warps"][0]


def grow(steps: int, search: OptunaSearch, score=lambda block, warps: 1.0) -> list[NodeView]:
    nodes = [node(0, SOURCE)]
    for i in range(1, steps + 1):
        proposal = propose(nodes, search, seed=i)
        if proposal.source is None:
            break
        nodes.append(node(i, proposal.source, i - 1, score(*config(proposal.source))))
    return nodes


def test_the_same_nodes_give_the_same_proposal_in_a_fresh_process():
    nodes = grow(6, OptunaSearch(), score=lambda block, warps: block / 1024 + warps / 8)
    first = propose(nodes, OptunaSearch(), seed=7)
    again = propose(list(nodes), OptunaSearch(), seed=7)  # nothing kept between the two
    assert first.source == again.source and first.source not in {n.source for n in nodes}


@pytest.mark.parametrize("sampler", ["tpe", "random", "grid"])
def test_each_point_of_the_space_is_proposed_once(sampler):
    nodes = grow(11, OptunaSearch(sampler, windows=SMALL))
    grid = {(b, w) for b in SMALL[("BLOCK_SIZE", 0)] for w in SMALL[("num_warps", 0)]}
    assert sorted(config(n.source) for n in nodes) == sorted(grid)


def test_a_resource_failure_marks_larger_tiles_infeasible():
    failed = SOURCE.replace("BLOCK_SIZE = 1024", "BLOCK_SIZE = 2048")
    failure = {"status": "compile_error", "failure": {"error_class": "OutOfResources",
               "message": "out of resource: shared memory, Required: 264192, Hardware limit: 232448"}}
    nodes = [node(0, SOURCE), node(1, failed, 0, 0.0, "compile_error", failure)]
    proposals = []
    for seed in range(8):
        proposal = propose(nodes, OptunaSearch("random", windows={("BLOCK_SIZE", 0): (512, 1024, 2048, 4096, 8192)}),
                           seed)
        proposals.append(config(proposal.source))
    assert all(block < 2048 for block, _ in proposals)
    assert "infeasible skipped" in " ".join(
        propose(nodes, OptunaSearch("random", windows={("BLOCK_SIZE", 0): (512, 1024, 2048, 4096, 8192)}), s).reason
        for s in range(8))


def test_a_variant_that_ran_out_of_time_marks_larger_tiles_infeasible_and_variants_get_a_limit():
    slow = SOURCE.replace("BLOCK_SIZE = 1024", "BLOCK_SIZE = 4096")
    timed_out = {"status": "timeout", "reason": "the candidate did not finish within 60 s; its worker was killed"}
    parent = node(0, SOURCE, result={"phases": {"compile_s": 20.0, "check_s": 5.0}})
    nodes = [parent, node(1, slow, 0, 0.0, "timeout", timed_out)]
    windows = {("BLOCK_SIZE", 0): (1024, 2048, 4096, 8192)}
    proposals = [propose(nodes, OptunaSearch("random", windows=windows), seed) for seed in range(8)]
    assert {config(p.source)[0] for p in proposals} <= {1024, 2048}
    assert {p.timeout_s for p in proposals} == {100.0}  # four times the parent's 25 s of compiling and checking
    assert propose([node(0, SOURCE)], OptunaSearch("random", windows=windows)).timeout_s is None  # not measured


def test_a_variant_far_slower_to_compile_than_its_anchor_marks_larger_tiles_infeasible():
    anchor = node(0, SOURCE, result={"phases": {"compile_s": 3.0, "check_s": 1.0}})
    slow = node(1, SOURCE.replace("BLOCK_SIZE = 1024", "BLOCK_SIZE = 4096"), 0, 0.9,
                result={"phases": {"compile_s": 40.0, "check_s": 1.0}})
    quick = node(2, SOURCE.replace("BLOCK_SIZE = 1024", "BLOCK_SIZE = 2048"), 0, 1.1,
                 result={"phases": {"compile_s": 12.0, "check_s": 1.0}})
    space = space_of(Graph([anchor, slow, quick]), anchor, radius=2)
    assert [t.too_large for t in space.trials(Graph([anchor, slow, quick]))] == [False, True, False]


def test_a_wrong_answer_is_not_taken_for_a_resource_limit():
    wrong = SOURCE.replace("BLOCK_SIZE = 1024", "BLOCK_SIZE = 2048")
    nodes = [node(0, SOURCE), node(1, wrong, 0, 0.0, "mismatch", {"reason": "mismatch at shape 4096"})]
    space = space_of(Graph(nodes), nodes[0], radius=2)
    assert [t.too_large for t in space.trials(Graph(nodes))] == [False, False]


def test_the_proposal_changes_several_parameters_and_says_how_it_was_found():
    nodes = grow(8, OptunaSearch("random"))
    proposal = propose(nodes, OptunaSearch("random"), seed=99)
    assert re.search(r"\(random over 2 parameters, 35 configurations, 9 tried; maximising the score\)",
                     proposal.reason), proposal.reason
    both_moved = [n for n, parent in zip(nodes[1:], nodes) if
                  all(a != b for a, b in zip(config(n.source), config(parent.source)))]
    assert both_moved  # a step may move every parameter at once


def test_one_step_in_three_goes_to_each_production_shape_in_turn():
    trials = [Trial(i, (i,), 1.0, {}, False) for i in range(6)]
    turns = [objective_of(trials[:n], ["a", "b"]) for n in range(7)]
    assert turns == [None, None, "a", None, None, "b", None]
    assert objective_of(trials, ["only"]) is None


def test_a_shape_turn_maximises_that_shapes_speedup():
    shapes = [Shape("a", {}, True), Shape("b", {}, True)]
    problem = Problem(Path("problem.py"), "", "", shapes, {}, allow_tf32=False, trials=3)
    timing = {"timings": [{"shape": "a", "speedup": 2.0}, {"shape": "b", "speedup": 0.5}]}
    nodes = grow(1, OptunaSearch())  # two trials: the third step is the first shape's turn
    nodes[0] = node(0, SOURCE, result=timing)
    proposal = propose(nodes, OptunaSearch(), problem=problem)
    assert proposal.reason.endswith("maximising the shape a)")


def test_maxnreg_is_tunable_where_the_installed_triton_takes_it():
    source = "kernel[grid](x, BLOCK=64, num_warps=4, maxnreg=128)\n"
    assert tunable_parameters(source)["maxnreg"] == [128]
    space = space_of(Graph([node(0, source)]), node(0, source), radius=1)
    assert [d.values for d in space.dimensions if d.site.name == "maxnreg"] == [(96, 128, 160)]
