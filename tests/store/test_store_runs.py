"""Runs: creating, resuming, refusing a run for another problem, listing with node counts."""

from __future__ import annotations

import pytest

from kernelevolve.store import InvalidRecordError, RunConflictError


def test_ensure_run_creates_the_run_once_and_returns_it_again(store):
    first = store.ensure_run("r", "p.py", "h1", "interpreter", {"steps": 3})
    again = store.ensure_run("r", "p.py", "h1", "interpreter", {"steps": 99})
    assert again == first
    assert first.config == {"steps": 3}
    assert first.status == "created"
    assert first.created_at.tzinfo is not None


def test_ensure_run_for_another_problem_hash_is_refused(store):
    store.ensure_run("r", "a.py", "hash-a", "interpreter", {})
    with pytest.raises(RunConflictError, match="exists for another problem"):
        store.ensure_run("r", "b.py", "hash-b", "interpreter", {})


def test_get_run_finds_by_name_and_unknown_name_is_none(store, run):
    assert store.get_run(run.name) == run
    assert store.get_run("nope") is None


def test_run_name_that_is_not_a_path_segment_is_refused(store):
    with pytest.raises(InvalidRecordError, match="not a valid name"):
        store.ensure_run("../escape", "p.py", "h", "interpreter", {})


def test_set_run_status_is_stored(store, run):
    store.set_run_status(run.id, "done")
    stored = store.get_run(run.name)
    assert stored.status == "done"
    assert stored.updated_at >= run.updated_at


def test_set_run_status_of_unknown_run_is_refused(store):
    with pytest.raises(InvalidRecordError, match="no run"):
        store.set_run_status(12345, "done")


def test_list_runs_counts_nodes_buggy_nodes_and_best_score(store, run, make_node):
    empty = store.ensure_run("empty", "p.py", "h", "interpreter", {})
    make_node(run.id, score=1.5)
    make_node(run.id, score=0.0, is_buggy=True)
    make_node(run.id, score=2.5)
    summaries = {s.run.name: s for s in store.list_runs()}
    assert (summaries[run.name].node_count, summaries[run.name].buggy_count) == (3, 1)
    assert summaries[run.name].best_score == 2.5
    assert summaries[empty.name].node_count == 0
    assert summaries[empty.name].best_score is None
