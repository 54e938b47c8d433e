"""Each termination rule fires with a reason that names it, and none fires within budget."""

from __future__ import annotations

import pytest

from kernelevolve.graph import Graph, NodeView
from kernelevolve.search.termination import Termination, steps_since_improvement


def node(node_id: int, score: float = 1.0, buggy: bool = False) -> NodeView:
    parent = None if node_id == 0 else node_id - 1
    return NodeView(node_id, parent, 0.0 if buggy else score, buggy, "ok", "test", f"h{node_id}")


def chain(*scores: float) -> Graph:
    return Graph([node(i, s) for i, s in enumerate(scores)])


def test_step_budget_stops_the_search():
    reason = Termination(max_steps=5).should_stop(chain(1.0), steps_done=5, elapsed_s=0.0)
    assert reason.startswith("steps:")


def test_time_budget_stops_the_search():
    reason = Termination(max_seconds=60).should_stop(chain(1.0), steps_done=1, elapsed_s=61.0)
    assert reason.startswith("time:")


def test_stall_stops_after_k_steps_without_improvement():
    graph = chain(1.0, 2.0, 1.5, 1.9, 0.3)
    assert Termination(stall_steps=3).should_stop(graph, 5, 0.0) == "stall: no improvement in 3 steps"
    assert Termination(stall_steps=4).should_stop(graph, 5, 0.0) is None


def test_equalling_the_best_score_is_not_an_improvement():
    assert steps_since_improvement(chain(1.0, 2.0, 2.0, 2.0)) == 2


def test_a_graph_with_no_working_node_has_never_improved():
    graph = Graph([node(0, buggy=True), node(1, buggy=True)])
    assert steps_since_improvement(graph) == 2


def test_target_score_stops_the_search():
    reason = Termination(target_score=2.0, max_steps=100).should_stop(chain(1.0, 2.5), 100, 0.0)
    assert reason.startswith("target:")


def test_first_correct_stops_only_once_a_node_is_correct():
    rule = Termination(first_correct=True, max_steps=100)
    assert rule.should_stop(Graph([node(0, buggy=True), node(1, buggy=True)]), 2, 0.0) is None
    reason = rule.should_stop(Graph([node(0, buggy=True), node(1)]), 2, 0.0)
    assert reason.startswith("correct: node 1 is correct") and "--search-untimed" in reason


def test_nothing_fires_within_every_budget():
    rules = Termination(max_steps=10, max_seconds=60, stall_steps=3, target_score=5.0)
    assert rules.should_stop(chain(1.0, 2.0, 3.0), steps_done=3, elapsed_s=1.0) is None


def test_non_positive_limits_are_rejected():
    with pytest.raises(ValueError, match="stall_steps"):
        Termination(stall_steps=0)
