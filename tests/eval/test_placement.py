"""Placement of evaluation workers on GPUs, and each GPU's timing gate, on this CPU machine: device
lists are given as CUDA_VISIBLE_DEVICES would name them, and the workers are real processes."""

from __future__ import annotations

import threading
import time

import pytest

from kernelevolve.eval.gate import DeviceGate
from kernelevolve.eval.placement import PlacementError, choose_gpus, default_workers, next_gpu, visible_gpus
from kernelevolve.eval.pool import WorkerPool, WorkerTimeout
from kernelevolve.platform import InterpreterPlatform

INTERPRETER = InterpreterPlatform()


def test_visible_gpus_follow_the_users_cuda_visible_devices():
    assert visible_gpus(4, {}) == ["0", "1", "2", "3"]
    assert visible_gpus(2, {"CUDA_VISIBLE_DEVICES": "5, 7"}) == ["5", "7"]
    assert visible_gpus(1, {"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb"}) == ["GPU-aa"]  # torch saw one of them
    assert visible_gpus(0, {"CUDA_VISIBLE_DEVICES": ""}) == []


def test_gpus_option_selects_among_the_visible_ones():
    visible = ["4", "5", "6"]
    assert choose_gpus(None, visible) == visible
    assert choose_gpus("2,0", visible) == ["6", "4"]
    for bad, said in (("3", "not one of the visible GPUs 0..2"), ("0,0", "twice"), ("x", "'x'")):
        with pytest.raises(PlacementError, match=said):
            choose_gpus(bad, visible)
    with pytest.raises(PlacementError, match="no GPU is visible"):
        choose_gpus("0", [])
    assert choose_gpus(None, []) == []


def test_evaluations_go_to_the_least_busy_gpu_and_workers_default_to_a_few_per_gpu():
    assert next_gpu(["0", "1"], {"0": 2, "1": 1}) == "1"
    assert next_gpu(["0", "1"], {"0": 1, "1": 1}) == "0"
    assert next_gpu([], {}) is None
    assert default_workers(0, 16) == 1  # the interpreter
    assert default_workers(1, 16) == 4
    assert default_workers(8, 16) == 16  # no more than the host's cores ...
    assert default_workers(8, 4) == 8  # ... but one per GPU at least


def test_a_pool_spreads_its_workers_over_the_gpus_each_seeing_its_own():
    pool = WorkerPool("reference", INTERPRETER, size=3, gpus=["3", "5"])
    lent = threading.Barrier(3)

    def use(worker):
        lent.wait(timeout=120)  # all three lent at once
        with open(f"/proc/{worker.proc.pid}/environ", "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        return worker.gpu, env[b"CUDA_VISIBLE_DEVICES"].decode()

    try:
        threads, seen = [], []
        for _ in range(3):
            threads.append(threading.Thread(target=lambda: seen.append(pool.run(use))))
            threads[-1].start()
        for t in threads:
            t.join(timeout=180)
        assert sorted(seen) == [("3", "3"), ("3", "3"), ("5", "5")]
        assert set(pool.gates) == {"3", "5"}
    finally:
        pool.close()


def _states(worker) -> set[str]:
    states = set()
    for pid in worker._processes():
        with open(f"/proc/{pid}/stat") as f:
            states.add(f.read().rsplit(")", 1)[1].split()[0])
    return states


def test_pausing_a_sandboxed_worker_stops_it_from_outside_and_the_pause_does_not_count_against_its_timeout():
    pool = WorkerPool("candidate", INTERPRETER, sandbox="best-effort")

    def use(worker):
        assert worker._processes(), "the worker's processes are found from outside"
        worker.pause()
        assert _states(worker) == {"T"}  # every process of its sandbox is stopped
        timed_out = []

        def wait_for_an_answer():
            started = time.monotonic()
            with pytest.raises(WorkerTimeout):
                worker.receive(0.3)  # the idle worker never answers: a timeout, but only 0.3 s after resume
            timed_out.append(time.monotonic() - started)

        waiter = threading.Thread(target=wait_for_an_answer)
        waiter.start()
        time.sleep(1.0)
        worker.resume()
        assert "T" not in _states(worker) or not worker.alive
        waiter.join(timeout=30)
        return timed_out[0], worker.paused_s

    try:
        waited, paused = pool.run(use)
    finally:
        pool.close()
    assert paused >= 1.0
    assert waited >= 1.2  # 1 s paused + 0.3 s of its own


class Recorder:
    """A worker as a gate sees it: what was done to it, in order."""

    def __init__(self, name: str, log: list[str]):
        self.name, self.log = name, log

    def pause(self) -> None:
        self.log.append(f"pause {self.name}")

    def resume(self) -> None:
        self.log.append(f"resume {self.name}")


def test_the_gate_times_one_at_a_time_and_pauses_the_others_busy_workers():
    log: list[str] = []
    gate = DeviceGate()
    a, b, c = (Recorder(n, log) for n in "abc")
    for w in (a, b):
        gate.enter(w)
    with gate.alone(a) as waited:
        assert waited < 1.0
        assert log == ["pause b"]  # b was mid-check: paused while a times
        gate.enter(c)  # lent while a times: paused at once
        assert log == ["pause b", "pause c"]
        entered = threading.Event()

        def b_times():
            with gate.alone(b):
                entered.set()

        thread = threading.Thread(target=b_times)
        thread.start()
        assert not entered.wait(0.3)  # b must wait for a
    thread.join(timeout=5)
    assert entered.is_set()
    assert sorted(log[2:4]) == ["resume b", "resume c"]
    assert sorted(log[4:]) == ["pause a", "pause c", "resume a", "resume c"]  # a had not left yet


def test_a_gate_that_times_baselines_waits_for_the_others_to_park_instead_of_pausing_them():
    log: list[str] = []
    gate = DeviceGate()
    a, b = Recorder("a", log), Recorder("b", log)
    gate.enter(a)
    gate.enter(b)
    got_it = threading.Event()

    def a_times_baselines():
        with gate.alone(a, drain_others=True):
            got_it.set()

    thread = threading.Thread(target=a_times_baselines)
    thread.start()
    assert not got_it.wait(0.3)  # b is still checking
    gate.leave(b)  # b finished its evaluation
    thread.join(timeout=5)
    assert got_it.is_set() and log == []  # nobody was paused
