"""Selection policies on synthetic fitness landscapes: graphs built by hand, expansions simulated."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from kernelevolve.graph import Graph, NodeView, Pending
from kernelevolve.search.policies import (
    EvolvePolicy,
    GreedyPolicy,
    MCTSPolicy,
    Policy,
    make_policy,
)
from kernelevolve.search.policies.base import choose, expandable
from kernelevolve.search.policies.evolve import island_members

Landscape = Callable[[NodeView, random.Random], float]


def node(
    node_id: int, parent: int | None = None, score: float = 1.0, buggy: bool = False, **tags
) -> NodeView:
    return NodeView(
        id=node_id,
        parent_id=parent,
        score=0.0 if buggy else score,
        is_buggy=buggy,
        status="mismatch" if buggy else "ok",
        operator="test",
        source_hash=f"h{node_id}",
        tags=tags,
    )


def grow(
    policy: Policy, nodes: list[NodeView], landscape: Landscape, steps: int, k: int = 1, seed: int = 0
) -> list[NodeView]:
    """Run `steps` rounds of select-and-expand; a child's score is drawn from the landscape at its parent."""
    rng = random.Random(seed)
    nodes = list(nodes)
    for _ in range(steps):
        for selection in policy.select(Graph(nodes), k, rng):
            parent = selection.parent
            score = landscape(parent, rng)
            nodes.append(node(len(nodes), parent.id, score, **selection.tags))
    return nodes


def noisy_climb(parent: NodeView, rng: random.Random) -> float:
    return max(0.01, parent.score * rng.uniform(0.8, 1.2))


def depth(nodes: list[NodeView], node_id: int) -> int:
    return len(Graph(nodes).lineage(node_id))


# --- greedy ---------------------------------------------------------------------------------------


def test_greedy_exploits_the_best_working_node():
    graph = Graph([node(0, score=1.0), node(1, 0, 3.0), node(2, 0, 0.0, buggy=True), node(3, 1, 2.0)])
    [pick] = GreedyPolicy(epsilon=0.0).select(graph, 1, random.Random(0))
    assert pick.parent.id == 1


def test_greedy_breaks_ties_towards_the_oldest_node():
    graph = Graph([node(0, score=1.0), node(1, 0, 2.0), node(2, 0, 2.0), node(3, 2, 2.0)])
    picks = [GreedyPolicy(epsilon=0.0).select(graph, 1, random.Random(s))[0].parent.id for s in range(5)]
    assert picks == [1] * 5


def test_greedy_spreads_several_selections_over_the_top_nodes():
    graph = Graph([node(0, score=1.0), node(1, 0, 3.0), node(2, 0, 2.0), node(3, 1, 0.5)])
    picks = GreedyPolicy(epsilon=0.0).select(graph, 3, random.Random(0))
    assert [p.parent.id for p in picks] == [1, 2, 0]


def test_greedy_repairs_the_most_recent_buggy_node_when_all_fail():
    graph = Graph([node(0, buggy=True), node(1, 0, buggy=True), node(2, 0, buggy=True)])
    [pick] = GreedyPolicy().select(graph, 1, random.Random(0))
    assert pick.parent.id == 2


def test_greedy_epsilon_explores_other_working_nodes():
    graph = Graph([node(0, score=1.0), node(1, 0, 3.0), node(2, 0, 2.0), node(3, 0, buggy=True)])
    picks = {GreedyPolicy(epsilon=1.0).select(graph, 1, random.Random(s))[0].parent.id for s in range(30)}
    assert picks == {0, 1, 2}


def test_greedy_climbs_along_the_best_lineage():
    nodes = grow(GreedyPolicy(epsilon=0.0), [node(0)], lambda p, rng: p.score + 1.0, steps=10)
    assert depth(nodes, Graph(nodes).best().id) == 11


# --- mcts -----------------------------------------------------------------------------------------


def crowded_and_lonely_branches() -> Graph:
    """Root 0; branch 1 holds the best score and 20 visits, branch 2 is promising but visited once."""
    nodes = [node(0, score=0.5), node(1, 0, 1.0), node(2, 0, 0.9)]
    nodes += [node(i, 1, 0.6) for i in range(3, 23)]
    return Graph(nodes)


def test_uct_explores_a_rarely_visited_promising_branch():
    [pick] = MCTSPolicy(exploration=1.0).select(crowded_and_lonely_branches(), 1, random.Random(0))
    assert pick.parent.id == 2


def test_uct_with_zero_exploration_is_greedy():
    for seed in range(20):
        rng = random.Random(seed)
        nodes = [node(0, score=rng.random())]
        for i in range(1, 40):
            nodes.append(node(i, rng.randrange(i), rng.random(), buggy=rng.random() < 0.2))
        graph = Graph(nodes)
        [pick] = MCTSPolicy(exploration=0.0).select(graph, 1, rng)
        assert pick.parent == graph.best()


def test_uct_expands_an_internal_node_again_when_it_is_the_best():
    graph = Graph([node(0, score=2.0), node(1, 0, 0.5), node(2, 0, 0.4)])
    [pick] = MCTSPolicy(exploration=0.1).select(graph, 1, random.Random(0))
    assert pick.parent.id == 0


def test_uct_large_constant_spreads_visits():
    def tree(c: float) -> list[NodeView]:
        return grow(MCTSPolicy(exploration=c), [node(0)], noisy_climb, steps=60)

    narrow, wide = tree(0.05), tree(5.0)
    assert max(depth(wide, n.id) for n in wide) < max(depth(narrow, n.id) for n in narrow)
    assert len(Graph(wide).children(0)) > len(Graph(narrow).children(0))


def test_uct_diversifies_several_selections_by_virtual_loss():
    picks = MCTSPolicy(exploration=0.5).select(crowded_and_lonely_branches(), 4, random.Random(0))
    assert len({p.parent.id for p in picks}) >= 3


def test_policies_draft_from_scratch_only_on_an_empty_graph():
    for name in ("greedy", "mcts", "evolve"):
        policy = make_policy(name)
        assert all(s.parent is None for s in policy.select(Graph([]), 2, random.Random(0)))
        assert all(s.parent is not None for s in policy.select(Graph([node(0)]), 2, random.Random(0)))


# --- evolve ---------------------------------------------------------------------------------------


def test_seeds_are_dealt_round_robin_to_islands():
    members = island_members(Graph([node(i) for i in range(6)]), 4)
    assert [[n.id for n in group] for group in members] == [[0, 4], [1, 5], [2], [3]]


def test_drafts_are_dealt_round_robin_to_islands():
    picks = EvolvePolicy(n_islands=3).select(Graph([]), 4, random.Random(0))
    assert [p.tags["island"] for p in picks] == [0, 1, 2, 0]


def test_children_inherit_their_parents_island():
    nodes = grow(EvolvePolicy(migration_interval=1000), [node(i) for i in range(4)], noisy_climb, steps=40)
    members = island_members(Graph(nodes), 4)
    island_of = {n.id: i for i, group in enumerate(members) for n in group}
    assert all(island_of[n.id] == island_of[n.parent_id] for n in nodes if n.parent_id is not None)


def test_island_picks_its_own_parents_even_when_another_island_is_better():
    seeds = [node(0, score=100.0), node(1, score=1.0)]
    policy = EvolvePolicy(n_islands=2, migration_interval=1000)
    picks = policy.select(Graph(seeds), 10, random.Random(0))
    assert [p.parent.id for p in picks if p.tags["island"] == 1] == [1] * 5


def test_one_seed_populates_every_island():
    nodes = grow(EvolvePolicy(n_islands=4), [node(0)], noisy_climb, steps=4)
    assert [len(group) for group in island_members(Graph(nodes), 4)] == [2, 1, 1, 1]


def test_good_node_migrates_from_island_zero_to_island_one():
    star = node(1, 0, 50.0)
    seeds = [node(0, score=1.0), node(2, score=1.0), star]  # 0 and star in island 0, 2 in island 1
    policy = EvolvePolicy(n_islands=2, migration_interval=5)
    nodes = grow(policy, seeds, lambda p, rng: p.score * 0.9, steps=20)
    graph = Graph(nodes)
    island_one = island_members(graph, 2)[1]
    assert any(star in graph.lineage(n.id) for n in island_one)
    assert any(n.tags.get("migrated_from") == 0 and n.parent_id == star.id for n in island_one)


def test_islands_do_not_collapse_onto_one():
    seeds = [node(0, score=4.0), node(1, score=1.0), node(2, score=1.0), node(3, score=1.0)]
    nodes = grow(EvolvePolicy(n_islands=4, migration_interval=10), seeds, noisy_climb, steps=200)
    members = island_members(Graph(nodes), 4)
    island_of = {n.id: i for i, group in enumerate(members) for n in group}
    assert min(len(group) for group in members) >= 0.2 * len(nodes)
    migrants = [n for n in nodes if "migrated_from" in n.tags]
    assert 0 < len(migrants) <= 200 // 10
    bred_at_home = [island_of[n.id] == island_of[n.parent_id] for n in nodes[4:] if n not in migrants]
    assert all(bred_at_home)


def test_a_best_node_migrates_into_an_island_only_once():
    seeds = [node(0, score=5.0), node(1, score=1.0)]
    policy = EvolvePolicy(n_islands=2, migration_interval=2)
    nodes = grow(policy, seeds, lambda p, rng: p.score * 0.5, steps=12)
    migrants = [n for n in nodes if n.tags.get("migrated_from") == 0]
    assert [n.parent_id for n in migrants] == [0]


# --- make_policy ----------------------------------------------------------------------------------


def test_make_policy_passes_options_to_the_named_policy():
    policy = make_policy("mcts", exploration=0.3)
    assert isinstance(policy, MCTSPolicy) and policy.exploration == 0.3 and policy.name == "mcts"
    assert make_policy("evolve", n_islands=2).n_islands == 2
    assert make_policy("greedy").name == "greedy"


def test_unknown_policy_name_lists_the_choices():
    with pytest.raises(ValueError, match="greedy, mcts, evolve"):
        make_policy("beam")


def test_invalid_policy_options_are_rejected():
    with pytest.raises(ValueError, match="epsilon"):
        make_policy("greedy", epsilon=2.0)
    with pytest.raises(ValueError, match="n_islands"):
        make_policy("evolve", n_islands=0)


# --- what every policy is given -------------------------------------------------------------------


def test_busy_and_exhausted_nodes_are_left_out_while_others_remain():
    graph = Graph([node(0), node(1, 0), node(2, 1), node(3, 0)])
    view = expandable(graph, busy={3}, exhausted={1})
    assert sorted(view.nodes) == [0, 2] and view.nodes[2].parent_id is None  # re-rooted: still reachable
    assert sorted(expandable(graph, busy={0, 2, 3}, exhausted={1}).nodes) == [0, 2, 3]
    assert sorted(expandable(graph, exhausted={0, 1, 2, 3}).nodes) == [0, 1, 2, 3]


def test_choose_returns_parents_as_nodes_of_the_whole_graph():
    graph = Graph([node(0, score=1.0), node(1, 0, 3.0)])
    [pick] = choose(GreedyPolicy(epsilon=0.0), graph, 1, random.Random(0), exhausted={0})
    assert pick.parent == graph.nodes[1] and pick.parent.parent_id == 0


def test_uct_counts_expansions_under_way_as_virtual_loss():
    graph = crowded_and_lonely_branches()
    [alone] = MCTSPolicy(exploration=0.5).select(graph, 1, random.Random(0))
    under_way = Graph(list(graph.nodes.values()), [Pending(alone.parent.id)] * 3)
    [next_pick] = MCTSPolicy(exploration=0.5).select(under_way, 1, random.Random(0))
    assert next_pick.parent.id != alone.parent.id


def test_a_new_evolve_policy_every_step_selects_as_one_that_ran_throughout():
    seeds = [node(0, score=1.0), node(1, score=2.0), node(2, score=1.5)]
    throughout = EvolvePolicy(n_islands=3, migration_interval=4)
    kept, fresh = list(seeds), list(seeds)
    rng_kept, rng_fresh = random.Random(3), random.Random(3)
    for _ in range(14):
        for nodes, policy, rng in ((kept, throughout, rng_kept), (fresh, EvolvePolicy(3, 4), rng_fresh)):
            [pick] = policy.select(Graph(nodes), 1, rng)
            nodes.append(node(len(nodes), pick.parent.id, noisy_climb(pick.parent, rng), **pick.tags))
    assert [(n.parent_id, n.tags) for n in kept] == [(n.parent_id, n.tags) for n in fresh]
    assert any("migrated_from" in n.tags for n in kept)


def test_evolve_counts_the_island_turns_of_expansions_under_way():
    graph = Graph([node(0)], [Pending(0, {"island": 0}), Pending(0, {"island": 1})])
    [pick] = EvolvePolicy(n_islands=3).select(graph, 1, random.Random(0))
    assert pick.tags == {"island": 2}
