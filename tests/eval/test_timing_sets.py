"""Timed repetitions cannot be served from memory: each runs on its own input set, and what each
returned is compared with that set's reference. The host's clock times: this runs without a GPU."""

from __future__ import annotations

import torch

from kernelevolve.eval.compare import timed_output_mismatch
from kernelevolve.eval.inputs import cases_for, timing_cases
from kernelevolve.eval.storage import storage_key
from kernelevolve.eval.timing import (
    HostClock,
    TIMING_DRAWS_S,
    TIMING_SETS_MAX,
    TIMING_SETS_MIN,
    time_interleaved,
    timing_set_count,
)
from kernelevolve.problem import load_problem
from tests.eval.test_attacks import HERE


def _sets(k: int) -> list:
    return [torch.randn(64, generator=torch.Generator().manual_seed(100 + k)), 3]


def test_every_timed_call_gets_new_objects_storages_and_contents():
    warmup = [torch.randn(64), 3]
    seen = {"candidate": [], "eager": []}
    alive = []  # kept alive, so that a reused address would also be a reused key

    def watcher(name):
        def fn(inputs):
            alive.append(inputs[0])
            seen[name].append((id(inputs[0]), storage_key(inputs[0]), inputs[0].sum().item()))
            return inputs[0] * 2

        return fn

    time_interleaved({"candidate": watcher("candidate"), "eager": watcher("eager")}, warmup, _sets, 6,
                     clock=HostClock())
    timed = seen["candidate"][-6:]
    assert len({obj for obj, _, _ in timed}) == 6
    assert len({key for _, key, _ in timed}) == 6
    assert len({total for _, _, total in timed}) == 6
    assert warmup[0].sum().item() not in {total for _, _, total in timed}


def test_each_result_is_handed_over_with_its_set():
    kept = []
    time_interleaved({"candidate": lambda inputs: inputs[0] * 2}, [torch.randn(64), 3], _sets, 5,
                     keep=lambda name, k, result: kept.append((k, result)), clock=HostClock())
    assert [k for k, _ in kept] == list(range(5))
    assert all(torch.equal(result, _sets(k)[0] * 2) for k, result in kept)


def test_timing_sets_have_seeds_no_correctness_case_uses():
    problem = load_problem(HERE / "problems" / "scale_add.py")
    cases = cases_for(problem)
    timed = next(c for c in cases if c.timed)
    sets = timing_cases(timed, 7)
    assert len({s.seed for s in sets}) == 7
    assert not {s.seed for s in sets} & {c.seed for c in cases}
    assert len({s.id for s in sets} | {c.id for c in cases}) == 7 + len(cases)


def test_set_count_is_bounded_by_the_bytes_of_one_set():
    assert timing_set_count(1 << 10) == TIMING_SETS_MAX
    assert timing_set_count(1 << 30) == TIMING_SETS_MIN
    assert TIMING_SETS_MIN < timing_set_count(100 << 20) < TIMING_SETS_MAX


def test_a_recipe_slow_to_draw_gets_fewer_sets():
    assert timing_set_count(1 << 10, draw_s=0.0) == TIMING_SETS_MAX
    assert timing_set_count(1 << 10, draw_s=TIMING_DRAWS_S / 10) == 10
    assert timing_set_count(1 << 10, draw_s=5.0) == TIMING_SETS_MIN
    assert timing_set_count(1 << 30, draw_s=TIMING_DRAWS_S / 10) == TIMING_SETS_MIN  # bytes still bound it


def _save_sets(problem, directory, suffix, values):
    sets = timing_cases(next(c for c in cases_for(problem) if c.timed), len(values))
    for case, value in zip(sets, values):
        torch.save([value], directory / f"{case.id}{suffix}")
    return sets


def test_one_wrong_timed_output_is_a_mismatch(tmp_path):
    problem = load_problem(HERE / "problems" / "scale_add.py")
    refs, outs = tmp_path / "refs", tmp_path / "outs"
    refs.mkdir(), outs.mkdir()
    values = [torch.full((8,), float(k)) for k in range(5)]
    sets = _save_sets(problem, refs, ".pt", values)
    _save_sets(problem, outs, ".timed.pt", values[:3] + [values[2], values[4]])  # repetition 3 served stale
    reason = timed_output_mismatch(problem, sets, refs, outs)
    assert reason is not None and "timed repetition 3" in reason


def test_missing_timed_output_is_a_mismatch(tmp_path):
    problem = load_problem(HERE / "problems" / "scale_add.py")
    refs, outs = tmp_path / "refs", tmp_path / "outs"
    refs.mkdir(), outs.mkdir()
    sets = _save_sets(problem, refs, ".pt", [torch.zeros(8)] * 5)
    _save_sets(problem, outs, ".timed.pt", [torch.zeros(8)] * 4)
    assert "timed repetition 4 is missing" in timed_output_mismatch(problem, sets, refs, outs)


def test_correct_timed_outputs_pass(tmp_path):
    problem = load_problem(HERE / "problems" / "scale_add.py")
    refs, outs = tmp_path / "refs", tmp_path / "outs"
    refs.mkdir(), outs.mkdir()
    values = [torch.randn(8) for _ in range(5)]
    sets = _save_sets(problem, refs, ".pt", values)
    _save_sets(problem, outs, ".timed.pt", values)
    assert timed_output_mismatch(problem, sets, refs, outs) is None
