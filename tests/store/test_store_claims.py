"""Step-budget claims: the budget holds under concurrency, and dead owners give their steps back."""

from __future__ import annotations

import multiprocessing
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from kernelevolve.graph import NewNode
from kernelevolve.store import DuplicateChildError, InvalidRecordError, ParentBusyError, new_owner, open_store


def _dead_local_owner() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:{uuid.uuid4().hex}"


def _remote_owner() -> str:
    return f"another-host.invalid:4242:{uuid.uuid4().hex}"


def test_claims_stop_at_the_step_budget(store, run):
    owner = new_owner()
    granted = [store.claim_slot(run.id, owner, max_steps=3) for _ in range(4)]
    assert granted[3] is None
    assert None not in granted[:3] and len(set(granted[:3])) == 3


def test_evaluated_nodes_count_against_the_budget(store, run, make_node):
    make_node(run.id)
    make_node(run.id)
    assert store.claim_slot(run.id, new_owner(), max_steps=2) is None


def test_node_recorded_with_its_claim_uses_exactly_one_step(store, run, make_node):
    owner = new_owner()
    claim = store.claim_slot(run.id, owner, max_steps=2)
    make_node(run.id, claim_id=claim)
    assert store.claim_slot(run.id, owner, max_steps=2) is not None
    assert store.claim_slot(run.id, owner, max_steps=2) is None


def test_released_claim_frees_its_step(store, run):
    owner = new_owner()
    claim = store.claim_slot(run.id, owner, max_steps=1)
    store.release_claim(claim)
    store.release_claim(claim)
    assert store.claim_slot(run.id, owner, max_steps=1) is not None


def test_released_claim_id_is_never_handed_out_again(store, run):
    owner = new_owner()
    first = store.claim_slot(run.id, owner, max_steps=1)
    store.release_claim(first)
    assert store.claim_slot(run.id, owner, max_steps=1) != first


def test_claim_of_a_dead_local_process_is_reclaimed_at_once(store, run):
    assert store.claim_slot(run.id, _dead_local_owner(), max_steps=1) is not None
    assert store.claim_slot(run.id, new_owner(), max_steps=1) is not None


def test_claim_of_a_live_local_process_is_kept(store, run):
    assert store.claim_slot(run.id, new_owner(), max_steps=1) is not None
    assert store.claim_slot(run.id, new_owner(), max_steps=1) is None


def test_claim_with_a_stale_heartbeat_is_reclaimed(store, run):
    assert store.claim_slot(run.id, _remote_owner(), max_steps=1) is not None
    assert store.claim_slot(run.id, new_owner(), max_steps=1, stale_after_s=60) is None
    time.sleep(0.05)
    assert store.claim_slot(run.id, new_owner(), max_steps=1, stale_after_s=0.01) is not None


def test_heartbeat_keeps_a_remote_claim_alive(store, run):
    remote = _remote_owner()
    store.claim_slot(run.id, remote, max_steps=1)
    time.sleep(0.3)
    store.heartbeat(remote)
    assert store.claim_slot(run.id, new_owner(), max_steps=1, stale_after_s=0.25) is None


def test_node_of_a_reclaimed_claim_is_still_recorded(store, run, make_node):
    claim = store.claim_slot(run.id, _dead_local_owner(), max_steps=1)
    store.claim_slot(run.id, new_owner(), max_steps=1)
    make_node(run.id, claim_id=claim)
    assert store.count_nodes(run.id) == 1


def test_claim_of_another_run_cannot_be_completed(store, run, make_node):
    other = store.ensure_run("other", "p.py", "h", "interpreter", {})
    claim = store.claim_slot(other.id, new_owner(), max_steps=1)
    with pytest.raises(InvalidRecordError, match="belongs to run"):
        make_node(run.id, claim_id=claim)
    assert store.count_nodes(run.id) == 0


def _spend_budget(store, run_id: int, max_steps: int) -> int:
    """Claim and record until the budget says no; return how many nodes this caller recorded."""
    owner = new_owner()
    recorded = 0
    while (claim := store.claim_slot(run_id, owner, max_steps)) is not None:
        store.add_node(run_id, NewNode(None, "tuner", f"# {owner} {recorded}", {}, 1.0, False, "ok"),
                       claim_id=claim)
        recorded += 1
    return recorded


def test_concurrent_claims_from_threads_never_exceed_the_budget(store, run):
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda: counts.append(_spend_budget(store, run.id, 30)))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 30
    assert store.count_nodes(run.id) == 30


def _spend_budget_in_process(url: str, root: str, run_id: int, max_steps: int, out) -> None:
    with open_store(url, root=root) as store:
        out.put(_spend_budget(store, run_id, max_steps))


def test_concurrent_claims_from_processes_never_exceed_the_budget(store, run, store_url, store_root):
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=_spend_budget_in_process, args=(store_url, str(store_root), run.id, 24, out))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    counts = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(counts) == 24
    assert store.count_nodes(run.id) == 24


# -- which node a step expands ----------------------------------------------------------------------


def test_exclusive_claim_on_a_node_being_expanded_is_refused_with_the_busy_nodes(store, run, make_node):
    parent, other = make_node(run.id), make_node(run.id)
    store.claim_slot(run.id, new_owner(), 10, parent_id=parent.id, exclusive=True)
    with pytest.raises(ParentBusyError) as refused:
        store.claim_slot(run.id, new_owner(), 10, parent_id=parent.id, exclusive=True)
    assert refused.value.busy == {parent.id}
    assert store.claim_slot(run.id, new_owner(), 10, parent_id=other.id, exclusive=True) is not None
    assert store.expanding_parents(run.id) == {parent.id, other.id}


def test_refused_claim_spends_no_budget(store, run, make_node):
    parent = make_node(run.id)
    store.claim_slot(run.id, new_owner(), 3, parent_id=parent.id, exclusive=True)
    with pytest.raises(ParentBusyError):
        store.claim_slot(run.id, new_owner(), 3, parent_id=parent.id, exclusive=True)
    assert store.claim_slot(run.id, new_owner(), 3) is not None
    assert store.claim_slot(run.id, new_owner(), 3) is None


def test_shared_claim_on_a_node_being_expanded_is_granted(store, run, make_node):
    parent = make_node(run.id)
    store.claim_slot(run.id, new_owner(), 10, parent_id=parent.id, exclusive=True)
    assert store.claim_slot(run.id, new_owner(), 10, parent_id=parent.id) is not None


def test_node_is_free_to_expand_again_once_its_child_is_recorded_or_its_claim_released(store, run, make_node):
    parent = make_node(run.id)
    owner = new_owner()
    claim = store.claim_slot(run.id, owner, 10, parent_id=parent.id, exclusive=True)
    make_node(run.id, parent.id, claim_id=claim)
    assert store.expanding_parents(run.id) == set()
    claim = store.claim_slot(run.id, owner, 10, parent_id=parent.id, exclusive=True)
    store.release_claim(claim)
    assert store.claim_slot(run.id, owner, 10, parent_id=parent.id, exclusive=True) is not None


def test_node_held_by_a_dead_controller_is_free_to_expand(store, run, make_node):
    parent = make_node(run.id)
    store.claim_slot(run.id, _dead_local_owner(), 10, parent_id=parent.id)
    assert store.expanding_parents(run.id) == set()
    assert store.claim_slot(run.id, new_owner(), 10, parent_id=parent.id, exclusive=True) is not None


# -- a run's first nodes ----------------------------------------------------------------------------


def test_seeding_goes_to_one_controller_within_the_budget(store, run):
    granted = store.claim_seeding(run.id, new_owner(), 3, max_steps=2)
    assert granted is not None and len(set(granted)) == 2
    assert store.claim_seeding(run.id, new_owner(), 3, max_steps=10) is None


def test_run_with_nodes_is_not_seeded_again(store, run, make_node):
    make_node(run.id)
    assert store.claim_seeding(run.id, new_owner(), 1, max_steps=10) is None


def test_seeding_of_a_dead_controller_is_taken_over(store, run):
    store.claim_seeding(run.id, _dead_local_owner(), 1, max_steps=10)
    assert store.claim_seeding(run.id, new_owner(), 1, max_steps=10) is not None


def _claim_seeding_in_process(url: str, root: str, run_id: int, go, out, done) -> None:
    with open_store(url, root=root) as store:
        go.wait(timeout=60)
        out.put(store.claim_seeding(run_id, new_owner(), 2, max_steps=10))
        # Stay alive until every process has asked: a claim whose process has exited is dead,
        # and taking over a dead process's seeding is what the store is meant to do.
        done.wait(timeout=60)


def test_controllers_starting_at_once_get_one_seeding(store, run, store_url, store_root):
    context = multiprocessing.get_context("spawn")
    go, out, done = context.Event(), context.Queue(), context.Event()
    workers = [
        context.Process(target=_claim_seeding_in_process, args=(store_url, str(store_root), run.id, go, out, done))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    go.set()
    granted = [out.get(timeout=60) for _ in workers]
    done.set()
    for worker in workers:
        worker.join(timeout=60)
    winners = [g for g in granted if g is not None]
    assert len(winners) == 1 and len(winners[0]) == 2


def test_a_run_stays_running_while_another_controller_holds_a_claim(store, run):
    me, other = new_owner(), _remote_owner()
    claim = store.claim_slot(run.id, other, max_steps=5)
    store.set_run_status(run.id, "running")
    assert store.finish_run(run.id, me, "done") is False
    assert store.get_run(run.name).status == "running"
    store.release_claim(claim)
    assert store.finish_run(run.id, me, "done") is True
    assert store.get_run(run.name).status == "done"


def test_own_and_dead_claims_do_not_keep_a_run_running(store, run):
    me = new_owner()
    store.claim_slot(run.id, me, max_steps=5)  # this controller's own claim, not yet released
    store.claim_slot(run.id, _dead_local_owner(), max_steps=5)
    assert store.finish_run(run.id, me, "interrupted") is True
    assert store.get_run(run.name).status == "interrupted"


def test_the_same_child_from_the_same_parent_is_recorded_once_and_its_step_given_back(store, run, make_node):
    parent = make_node(run.id)
    owner = new_owner()
    first, second = (store.claim_slot(run.id, owner, max_steps=3, parent_id=parent.id) for _ in range(2))
    kept = make_node(run.id, parent.id, source="# the same kernel\n", claim_id=first)
    with pytest.raises(DuplicateChildError) as raised:
        make_node(run.id, parent.id, source="# the same kernel\n", claim_id=second)
    assert raised.value.existing == kept.id
    assert [n.id for n in store.nodes(run.id)] == [parent.id, kept.id]
    assert store.claim_slot(run.id, owner, max_steps=3) is not None  # the twin's step came back
    assert make_node(run.id, parent.id, source="# another kernel\n").parent_id == parent.id
