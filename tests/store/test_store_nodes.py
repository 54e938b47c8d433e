"""Nodes: their rows and files, lineage and subtree, best, warm-start seeds, bulk recording."""

from __future__ import annotations

import json
import math
import random

import pytest

from kernelevolve.graph import Graph, NewNode, source_hash
from kernelevolve.store import InvalidRecordError, ObjectMissingError


def _ids(records):
    return [r.id for r in records]


def test_added_node_files_hold_source_result_overview_and_extra_objects(store, run):
    node = store.add_node(run.id, NewNode(
        None, "llm", "def kernel(): pass\n", {"status": "ok", "speedup": 1.3}, 1.3, False,
        "ok", {"gbps": 800.0}, {"island": 2}, "# overview\n",
        objects={"prompt.md": "the prompt", "reply.md": "the reply"},
    ))
    assert node.kernel_path.read_text() == "def kernel(): pass\n"
    assert node.kernel_path == store.objects.root / f"runs/{run.name}/nodes/{node.id}/kernel.py"
    assert json.loads(node.result_path.read_text()) == {"status": "ok", "speedup": 1.3}
    assert node.overview_path.read_text() == "# overview\n"
    assert store.read_object(node, "reply.md") == "the reply"
    assert store.read_source(node) == "def kernel(): pass\n"
    assert store.read_result(node) == {"status": "ok", "speedup": 1.3}
    assert node.source_hash == source_hash("def kernel(): pass\n")
    assert store.node(node.id) == node


def test_every_row_points_at_files_that_exist(store, run, make_node):
    root = make_node(run.id, objects={"prompt.md": "p"})
    make_node(run.id, root.id)
    ids = store.reserve_node_ids(2)
    store.add_nodes_bulk(run.id, [_new(ids[0], root.id), _new(ids[1], ids[0])])
    for node in store.nodes(run.id):
        for path in [node.kernel_path, node.result_path, node.overview_path, *node.objects.values()]:
            assert path.is_file(), path


def test_refused_node_writes_no_files_and_no_row(store, run):
    with pytest.raises(InvalidRecordError, match="NaN"):
        store.add_node(run.id, NewNode(None, "llm", "src", {}, math.nan, False, "ok"))
    assert store.count_nodes(run.id) == 0
    assert not (store.objects.root / "runs").exists()


@pytest.mark.parametrize("field", ["metrics", "tags"])
def test_non_finite_number_in_a_json_column_is_refused(store, run, make_node, field):
    with pytest.raises(InvalidRecordError, match=field):
        make_node(run.id, **{field: {"ms": math.inf}})


def test_reserved_object_name_is_refused(store, run, make_node):
    with pytest.raises(InvalidRecordError, match="reserved"):
        make_node(run.id, objects={"kernel.py": "x"})


def test_unknown_parent_is_refused(store, run, make_node):
    with pytest.raises(InvalidRecordError, match="does not exist"):
        make_node(run.id, parent_id=999_999)
    assert store.count_nodes(run.id) == 0


def test_parent_from_another_run_is_refused(store, run, make_node):
    other = store.ensure_run("other", "p.py", "h", "interpreter", {})
    foreign = make_node(other.id)
    with pytest.raises(InvalidRecordError, match="another run"):
        make_node(run.id, parent_id=foreign.id)


def test_missing_object_file_is_reported_by_name(store, run, make_node):
    node = make_node(run.id)
    node.kernel_path.unlink()
    with pytest.raises(ObjectMissingError, match="kernel.py"):
        store.read_source(node)


def test_nodes_are_listed_in_id_order_and_unknown_node_is_none(store, run, make_node):
    made = [make_node(run.id) for _ in range(4)]
    assert store.nodes(run.id) == made
    assert store.count_nodes(run.id) == 4
    assert store.node(987_654) is None


def test_lineage_runs_from_the_root_to_the_node(store, run, make_node):
    root = make_node(run.id)
    child = make_node(run.id, root.id)
    make_node(run.id, root.id)
    grandchild = make_node(run.id, child.id)
    assert _ids(store.lineage(grandchild.id)) == [root.id, child.id, grandchild.id]
    assert _ids(store.lineage(root.id)) == [root.id]
    assert store.lineage(987_654) == []


def test_subtree_holds_the_node_and_its_descendants_only(store, run, make_node):
    root = make_node(run.id)
    left = make_node(run.id, root.id)
    right = make_node(run.id, root.id)
    left_child = make_node(run.id, left.id)
    make_node(run.id, right.id)
    assert _ids(store.subtree(left.id)) == [left.id, left_child.id]
    assert len(store.subtree(root.id)) == 5


def test_lineage_and_subtree_agree_with_the_in_memory_graph(store, run):
    rng = random.Random(7)
    ids = list(store.reserve_node_ids(120))
    batch = [_new(i, None if k == 0 else rng.choice(ids[:k])) for k, i in enumerate(ids)]
    store.add_nodes_bulk(run.id, batch)
    graph = Graph([n.to_view(with_source=False, with_result=False) for n in store.nodes(run.id)])
    for node_id in rng.sample(ids, 15):
        assert _ids(store.lineage(node_id)) == [v.id for v in graph.lineage(node_id)]
        below = {node_id}
        for i in ids:  # ids are in insertion order, so parents come first
            if graph.nodes[i].parent_id in below:
                below.add(i)
        assert _ids(store.subtree(node_id)) == sorted(below)


def test_best_is_the_highest_non_buggy_score_with_ties_to_the_lowest_id(store, run, make_node):
    make_node(run.id, score=1.0)
    first_of_tie = make_node(run.id, score=2.0)
    make_node(run.id, score=2.0)
    make_node(run.id, score=9.0, is_buggy=True)
    assert store.best(run.id).id == first_of_tie.id


def test_best_of_a_run_with_only_buggy_nodes_is_none(store, run, make_node):
    make_node(run.id, score=0.0, is_buggy=True)
    assert store.best(run.id) is None


def test_best_across_runs_takes_the_same_problem_only_and_can_exclude_a_run(store, run, make_node):
    sibling = store.ensure_run("sibling", "p.py", run.problem_hash, "interpreter", {})
    stranger = store.ensure_run("stranger", "q.py", "another-problem", "interpreter", {})
    mine = make_node(run.id, score=3.0)
    theirs = make_node(sibling.id, score=2.0)
    make_node(sibling.id, score=5.0, is_buggy=True)
    make_node(stranger.id, score=10.0)
    assert _ids(store.best_across_runs(run.problem_hash)) == [mine.id, theirs.id]
    assert _ids(store.best_across_runs(run.problem_hash, exclude_run_id=run.id)) == [theirs.id]
    assert _ids(store.best_across_runs(run.problem_hash, limit=1)) == [mine.id]


def test_to_view_carries_tags_source_and_result(store, run, make_node):
    node = make_node(run.id, tags={"island": 1}, source="src", result={"status": "ok"})
    view = node.to_view()
    assert (view.id, view.tags, view.source, view.result) == (node.id, {"island": 1}, "src", {"status": "ok"})
    assert node.to_view(with_source=False, with_result=False).source == ""


def test_bulk_nodes_may_name_parents_earlier_in_the_batch(store, run):
    first, second = store.reserve_node_ids(2)
    assert store.add_nodes_bulk(run.id, [_new(first, None), _new(second, first)]) == [first, second]
    assert _ids(store.lineage(second)) == [first, second]


def test_bulk_node_before_its_parent_in_the_batch_is_refused(store, run):
    first, second = store.reserve_node_ids(2)
    with pytest.raises(InvalidRecordError, match="before its parent"):
        store.add_nodes_bulk(run.id, [_new(first, second), _new(second, None)])


def test_bulk_ids_that_were_not_reserved_are_refused(store, run):
    with pytest.raises(InvalidRecordError, match="reserve_node_ids"):
        store.add_nodes_bulk(run.id, [_new(10_000, None)])


def test_reserved_ids_are_never_handed_out_twice(store):
    first = store.reserve_node_ids(3)
    second = store.reserve_node_ids(2)
    assert set(first).isdisjoint(second)


def _new(node_id: int, parent_id: int | None) -> NewNode:
    return NewNode(id=node_id, parent_id=parent_id, operator="tuner", source=f"# {node_id}",
                   result={"status": "ok"}, score=1.0, is_buggy=False, status="ok")


def test_node_ids_and_nodes_by_ids_fetch_only_what_is_asked(store, run, make_node):
    root = make_node(run.id)
    made = [root] + [make_node(run.id, root.id) for _ in range(4)]
    assert store.node_ids(run.id) == _ids(made)
    picked = [made[3].id, made[1].id, 10**9]
    assert _ids(store.nodes_by_ids(picked)) == sorted(picked[:2])
    assert store.nodes_by_ids([]) == []
