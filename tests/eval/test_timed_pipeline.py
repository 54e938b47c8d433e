"""The timing protocol end to end without a GPU: the interpreter's workers timed by the host's
clock (eval/timing.py HostClock), so the gate, the timing sets the harness places one at a time,
the check of every timed output and early stop run here as on a GPU. The numbers mean nothing:
only what the protocol does is asserted."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from kernelevolve.eval.harness import Harness
from kernelevolve.eval.result import Incumbent
from kernelevolve.eval.timing import Timing
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import load_problem
from tests.eval.test_attacks import HERE

KERNEL = (HERE / "kernels" / "correct_scale_add.py").read_text()


def blocked(block: int) -> str:
    """The kernel with another block size: other launches, so no duplicate of the first."""
    return KERNEL.replace("cdiv(n, 1024)", f"cdiv(n, {block})").replace("BLOCK=1024", f"BLOCK={block}")


class HostTimedInterpreter(InterpreterPlatform):
    """The interpreter, timed by the host's clock: for these tests of the protocol only."""

    name = "interpreter-host-timed"
    timed = True


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """scale_add with two production shapes, so that timing can stop after the first."""
    source = (HERE / "problems" / "scale_add.py").read_text()
    path = tmp_path_factory.mktemp("problem") / "scale_add_two.py"
    path.write_text(source.replace('SHAPES = {"n4096": {"n": 4096}}', 'SHAPES = {"n4096": {"n": 4096}, "n2048": {"n": 2048}}'))
    return load_problem(path)


@pytest.fixture(scope="module")
def harness(problem, tmp_path_factory):
    with Harness(HostTimedInterpreter(), cache_dir=tmp_path_factory.mktemp("cache")) as harness:
        # The baselines are given: torch.compile would need a C++ toolchain and a minute here.
        given = asdict(Timing(1.0, 1.0, 5, "given"))
        for shape in problem.production_shapes:
            harness._baselines[(problem.hash, shape.name, None)] = {"eager": given, "compile": given}
        yield harness


def test_a_correct_kernel_is_timed_on_every_set_the_harness_placed(harness, problem):
    result = harness.evaluate(problem, KERNEL)
    assert result.status.value == "ok", result.reason
    refs = harness.reference_set(problem)
    sets = {c["id"].split(".")[0]: len(c["timing_digests"]) for c in refs.cases.values() if "timing_digests" in c}
    assert sorted(t.shape for t in result.timings) == sorted(sets)
    assert result.phases["feed_s"] > 0 and result.phases["time_s"] >= result.phases["feed_s"]
    assert all(t.candidate_ms > 0 for t in result.timings)


def test_a_source_with_the_same_launches_takes_the_timings_it_duplicates(harness, problem):
    original = harness.evaluate(problem, blocked(2048))
    twin = harness.evaluate(problem, blocked(2048) + "\n# the same launches, another source\n")
    assert twin.status.value == "ok" and twin.duplicate_of == original.source_hash
    assert [t.candidate_ms for t in twin.timings] == [t.candidate_ms for t in original.timings]
    assert twin.phases["time_s"] == 0 and twin.phases["feed_s"] is None  # not timed again


def test_a_result_served_stale_while_timed_is_a_mismatch(harness, problem):
    stale = blocked(256) + '''

_Honest = ModelNew


class ModelNew(_Honest):
    """Honest through correctness and warm-up; then computes on the inputs it kept from then."""

    def __init__(self):
        super().__init__()
        self.calls, self.kept = 0, None

    def forward(self, x, y):
        self.calls += 1
        if self.calls <= 16 or self.kept is None or self.kept[0].shape != x.shape:
            self.kept = (x.clone(), y.clone())
        return super().forward(*self.kept)
'''
    result = harness.evaluate(problem, stale)
    assert result.status.value == "mismatch", result.reason
    assert "timed repetition" in result.reason


def test_links_planted_for_later_sets_are_not_written_through(harness, problem, tmp_path):
    target = tmp_path / "written-by-the-harness.pt"
    planting = blocked(512) + f'''

import os as _os

for _shape in ("n4096", "n2048"):
    for _k in range(40):  # every name a timing set can have, pointing outside the worker's home
        _name = _os.path.join(_os.path.dirname(_os.getcwd()), f"timing-{{_shape}}.time{{_k}}.pt")
        try:
            _os.symlink({str(target)!r}, _name)
        except OSError:
            pass
'''
    result = harness.evaluate(problem, planting)
    assert result.status.value == "ok", result.reason  # each link was replaced by the set itself
    assert not target.exists()


def test_timing_stops_after_a_shape_where_the_incumbent_is_much_faster(harness, problem):
    shapes = [s.name for s in problem.production_shapes]
    incumbent = Incumbent(node=1, score=4.0, shape_ms={s: 1e-9 for s in shapes}, ratio=1.5)
    result = harness.evaluate(problem, blocked(128), incumbent=incumbent)
    assert result.status.value == "ok", result.reason
    assert result.timing_stopped is not None and result.timing_stopped.untimed == shapes[1:]
    assert [t.shape for t in result.timings] == shapes[:1]
    assert result.score < incumbent.score
