"""The optimize loop end to end on the interpreter: real harness, real SQLite store, the tuner."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.operators.base import Proposal
from kernelevolve.operators.mix import OperatorMix
from kernelevolve.operators.tuner import Tuner
from kernelevolve.problem import load_problem
from kernelevolve.search.controller import Controller, seed_sources, warm_start_sources
from kernelevolve.search.policies import make_policy
from kernelevolve.search.termination import Termination
from kernelevolve.store import open_store

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = Path(__file__).parent / "data" / "seed_scale_add.py"


@pytest.fixture()
def store(tmp_path):
    with open_store(root=tmp_path / ".kernelevolve") as st:
        yield st


def controller(store, harness, operator=None, workers=1, steps=6):
    problem = load_problem(PROBLEM)
    return Controller(store, harness, problem, operator or OperatorMix(None, Tuner(), 0.0), make_policy("greedy"),
                      Termination(max_steps=steps), workers=workers), problem


def test_run_grows_to_the_step_budget_from_a_seed(store, interpreter_harness):
    ctl, problem = controller(store, interpreter_harness)
    run = store.ensure_run("r", str(problem.path), problem.hash, "interpreter", {})
    outcome = ctl.run(run, 6, seed_sources([SEED]))
    nodes = store.nodes(run.id)
    assert len(nodes) == 6 and outcome.nodes == 6
    assert [n.parent_id for n in nodes].count(None) == 1
    assert {n.operator for n in nodes} == {"seed", "tuner"}
    assert len({n.source_hash for n in nodes}) == 6  # the tuner never repeats a source
    assert outcome.best is not None and not outcome.best.is_buggy
    assert all(n.tags.get("change") for n in nodes)
    assert "score" in n.overview_path.read_text() if (n := nodes[-1]) else False


def test_running_again_resumes_without_new_seeds(store, interpreter_harness):
    ctl, problem = controller(store, interpreter_harness, steps=3)
    run = store.ensure_run("r", str(problem.path), problem.hash, "interpreter", {})
    ctl.run(run, 3, seed_sources([SEED]))
    ctl2, _ = controller(store, interpreter_harness, steps=5)
    ctl2.run(run, 5, seed_sources([SEED]))
    nodes = store.nodes(run.id)
    assert len(nodes) == 5
    assert [n.operator for n in nodes].count("seed") == 1


def test_identical_sources_are_evaluated_once(store, interpreter_harness):
    class Repeat:
        name = "repeat"

        def propose(self, ctx):
            return Proposal(source=SEED.read_text(), operator="repeat", reason="same again")

    ctl, problem = controller(store, interpreter_harness, operator=Repeat(), steps=3)
    run = store.ensure_run("r", str(problem.path), problem.hash, "interpreter", {})
    ctl.run(run, 3, seed_sources([SEED]))
    cached = [n.tags["cached"] for n in store.nodes(run.id)]
    assert cached[1:] == [True, True]


def test_a_proposal_without_code_becomes_a_buggy_node(store, interpreter_harness):
    class Mute:
        name = "llm"

        def propose(self, ctx):
            return Proposal(source=None, operator="llm", reason="no python code block defining ModelNew",
                            objects={"reply.md": "I cannot help with that."})

    ctl, problem = controller(store, interpreter_harness, operator=Mute(), steps=3)
    run = store.ensure_run("r", str(problem.path), problem.hash, "interpreter", {})
    ctl.run(run, 3, seed_sources([SEED]))
    nodes = store.nodes(run.id)
    assert [n.status for n in nodes] == ["ok", "no_candidate", "no_candidate"]
    assert all(n.is_buggy for n in nodes[1:])
    assert store.read_object(nodes[1], "reply.md") == "I cannot help with that."


def test_several_workers_respect_the_budget(store, interpreter_harness):
    ctl, problem = controller(store, interpreter_harness, workers=2, steps=7)
    run = store.ensure_run("r", str(problem.path), problem.hash, "interpreter", {})
    ctl.run(run, 7, seed_sources([SEED]))
    nodes = store.nodes(run.id)
    assert len(nodes) == 7
    ids = {n.id for n in nodes}
    assert all(n.parent_id is None or n.parent_id in ids for n in nodes)


def test_warm_start_takes_the_best_kernels_of_earlier_runs(store, interpreter_harness):
    ctl, problem = controller(store, interpreter_harness, steps=3)
    first = store.ensure_run("first", str(problem.path), problem.hash, "interpreter", {})
    ctl.run(first, 3, seed_sources([SEED]))
    second = store.ensure_run("second", str(problem.path), problem.hash, "interpreter", {})
    seeds = warm_start_sources(store, problem, exclude_run_id=second.id)
    best_source = store.read_source(store.best(first.id))
    assert seeds and seeds[0] == ("warm-start", best_source)


def test_a_run_whose_best_node_lost_its_files_resumes_from_the_nodes_that_remain(store, interpreter_harness):
    import shutil

    from kernelevolve.graph import NewNode
    from kernelevolve.operators.config_search import OptunaSearch
    from kernelevolve.search.controller import SearchError

    pytest.importorskip("optuna")
    problem = load_problem(PROBLEM)
    run = store.ensure_run("r", str(problem.path), problem.hash, "interpreter", {})
    seed = SEED.read_text()
    kept = store.add_node(run.id, NewNode(None, "seed", seed, {"status": "ok"}, 1.0, False, "ok"))
    lost = store.add_node(run.id, NewNode(kept.id, "tuner", seed.replace("BLOCK_SIZE = 256", "BLOCK_SIZE = 512"),
                                          {"status": "ok"}, 2.0, False, "ok"))
    shutil.rmtree(lost.kernel_path.parent)
    ctl, _ = controller(store, interpreter_harness, operator=OperatorMix(None, Tuner(OptunaSearch()), 0.0), steps=3)
    ctl.run(run, 3, seed_sources([SEED]))
    nodes = store.nodes(run.id)
    assert len(nodes) == 3 and nodes[-1].parent_id == kept.id and nodes[-1].status == "ok"
    assert nodes[-1].source_hash not in {kept.source_hash, lost.source_hash}
    shutil.rmtree(kept.kernel_path.parent)
    shutil.rmtree(nodes[-1].kernel_path.parent)
    ctl, _ = controller(store, interpreter_harness, steps=4)
    with pytest.raises(SearchError, match="every node of run 'r' has lost its files"):
        ctl.run(run, 4, seed_sources([SEED]))
