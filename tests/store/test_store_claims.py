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

from kernelevolve.store import InvalidRecordError, new_owner, open_store


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
        store.add_node(run_id, None, "tuner", f"# {owner} {recorded}", {}, 1.0, False, "ok",
                       {}, {}, "", claim_id=claim)
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
