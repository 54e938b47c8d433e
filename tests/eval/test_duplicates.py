"""A candidate whose checked calls launch exactly what an earlier one's did is recorded as its
duplicate (on a GPU it takes the earlier timings instead of being timed again); any change to what
runs — a block size, a grid — makes it a candidate of its own."""

from __future__ import annotations

from pathlib import Path

from kernelevolve.eval.harness import Harness
from kernelevolve.graph import source_hash
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import load_problem

HERE = Path(__file__).parent
ORIGINAL = (HERE / "kernels" / "correct_scale_add.py").read_text()


def test_same_launches_are_a_duplicate_and_other_launches_are_not(cache_dir):
    problem = load_problem(HERE / "problems" / "scale_add.py")
    cosmetic = ORIGINAL.replace("out = torch.empty_like(x)", "# the same work, written differently\n"
                                "        result = torch.empty_like(x)").replace("out, n, BLOCK", "result, n, BLOCK")
    cosmetic = cosmetic.replace("return out", "return result")
    other_block = ORIGINAL.replace("1024", "256")
    with Harness(InterpreterPlatform(), timeout_s=60, cache_dir=cache_dir) as harness:
        first, same, other, again = (harness.evaluate(problem, s) for s in (ORIGINAL, cosmetic, other_block, ORIGINAL))
    assert first.correct and same.correct and other.correct, (first.reason, same.reason, other.reason)
    assert first.launch_fingerprint and first.duplicate_of is None
    assert same.launch_fingerprint == first.launch_fingerprint
    assert same.duplicate_of == source_hash(ORIGINAL) and "launch exactly what candidate" in same.reason
    assert other.launch_fingerprint != first.launch_fingerprint and other.duplicate_of is None
    assert again.duplicate_of is None  # the same source judged again is judged (and on a GPU timed) again
