"""Controllers sharing a run: a node another expansion holds is left alone while there is another
choice, a lost race selects again, and controllers starting at once record one set of seeds.

An instant evaluator and an operator that always writes a new source keep these fast; the store
is a real SQLite one (its PostgreSQL behaviour is pinned in tests/store and test_scale_out_postgres).
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from kernelevolve.eval.harness import References
from kernelevolve.eval.result import EvalResult, Status
from kernelevolve.graph import NewNode
from kernelevolve.operators.base import ExpansionContext, Proposal
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import load_problem
from kernelevolve.search.controller import Controller
from kernelevolve.search.policies import make_policy
from kernelevolve.search.termination import Termination
from kernelevolve.store import open_store

PROBLEM = Path(__file__).resolve().parent / "eval" / "problems" / "scale_add.py"
ELSEWHERE = "another-host.invalid:4242:0123456789abcdef"  # a live controller on another machine


class InstantEvaluator:
    platform = InterpreterPlatform()
    profile = False
    timeout_s = 180.0

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds

    def reference_set(self, problem):
        return References(Path("."), {}, "cpu", {"torch": "test"}, None)

    def evaluate(self, problem, source, incumbent=None, timeout_s=None):
        time.sleep(self.seconds)
        return EvalResult(status=Status.ok, correct=True, reason="correct on every case")

    def close(self):
        pass


class FreshSource:
    """Writes a source never seen before, and remembers which parent it was given."""

    name = "fresh"

    def propose(self, ctx: ExpansionContext) -> Proposal:
        parent = ctx.parent.id if ctx.parent else None
        return Proposal(f"# from {parent}: {uuid.uuid4().hex}\n", self.name, f"a new kernel from {parent}")


@pytest.fixture
def store(tmp_path):
    with open_store(root=tmp_path / ".kernelevolve") as st:
        yield st


@pytest.fixture
def problem():
    return load_problem(PROBLEM)


@pytest.fixture
def run(store, problem):
    return store.ensure_run("shared", str(problem.path), problem.hash, "interpreter", {})


def controller(store, problem, steps, evaluator=None):
    return Controller(store, evaluator or InstantEvaluator(), problem, FreshSource(), make_policy("greedy", epsilon=0.0),
                      Termination(max_steps=steps))


def add(store, run, score, parent=None):
    return store.add_node(run.id, NewNode(parent, "seed", f"# {uuid.uuid4().hex}\n", {}, score, False, "ok"))


def children(store, run, parent_id):
    return [n for n in store.nodes(run.id) if n.parent_id == parent_id]


def test_node_another_controller_is_expanding_is_left_alone(store, problem, run):
    best, other = add(store, run, 2.0), add(store, run, 1.0)
    store.claim_slot(run.id, ELSEWHERE, 10, parent_id=best.id)
    controller(store, problem, steps=4).run(run, 4, [])
    assert children(store, run, best.id) == []
    assert len(children(store, run, other.id)) == 1


def test_lost_race_for_a_node_selects_again(store, problem, run, monkeypatch):
    best, other = add(store, run, 2.0), add(store, run, 1.0)
    store.claim_slot(run.id, ELSEWHERE, 10, parent_id=best.id)
    monkeypatch.setattr(store, "expanding_parents", lambda run_id: set())  # claimed after this was read
    controller(store, problem, steps=4).run(run, 4, [])
    assert children(store, run, best.id) == []
    assert len(children(store, run, other.id)) == 1


def test_only_node_is_shared_rather_than_waited_for(store, problem, run):
    only = add(store, run, 1.0)
    store.claim_slot(run.id, ELSEWHERE, 10, parent_id=only.id)
    controller(store, problem, steps=3).run(run, 3, [])
    assert len(children(store, run, only.id)) == 1


def test_expansions_in_flight_in_one_controller_take_different_nodes(store, problem, run):
    first, second = add(store, run, 1.0), add(store, run, 1.0)
    ctl = Controller(store, InstantEvaluator(0.2), problem, FreshSource(), make_policy("greedy", epsilon=0.0),
                     Termination(max_steps=4), workers=2)
    ctl.run(run, 4, [])
    assert len(children(store, run, first.id)) == 1 and len(children(store, run, second.id)) == 1


def test_controllers_starting_at_once_record_one_set_of_seeds(store, problem, run):
    seeds = [("seed", "# seed a\n"), ("seed", "# seed b\n")]
    errors: list[BaseException] = []

    def start() -> None:
        try:
            controller(store, problem, steps=8, evaluator=InstantEvaluator(0.05)).run(run, 8, seeds)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    nodes = store.nodes(run.id)
    assert errors == []
    assert len(nodes) == 8
    assert sorted(store.read_source(n) for n in nodes if n.parent_id is None) == ["# seed a\n", "# seed b\n"]


def islands(store, run) -> list[int | None]:
    return [n.tags.get("island") for n in store.nodes(run.id)]


def evolving(store, problem, steps, workers=1):
    return Controller(store, InstantEvaluator(), problem, FreshSource(),
                      make_policy("evolve", n_islands=3, migration_interval=1000), Termination(max_steps=steps),
                      workers=workers)


def test_a_resumed_run_deals_islands_as_an_uninterrupted_one(store, problem, run):
    seeds = [("seed", "# seed\n")]
    evolving(store, problem, steps=8).run(run, 8, seeds)
    resumed = store.ensure_run("resumed", str(problem.path), problem.hash, "interpreter", {})
    evolving(store, problem, steps=3).run(resumed, 3, seeds)
    evolving(store, problem, steps=8).run(resumed, 8, seeds)  # a new process: a new policy
    assert islands(store, resumed) == islands(store, run) == [None, 0, 1, 2, 0, 1, 2, 0]


def test_expansions_in_flight_together_take_different_islands(store, problem, run):
    evolving(store, problem, steps=4, workers=3).run(run, 4, [("seed", "# seed\n")])
    assert sorted(islands(store, run)[1:]) == [0, 1, 2]
