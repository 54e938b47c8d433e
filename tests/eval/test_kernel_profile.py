"""The compiled kernels' profile: occupancy from warps, registers and shared memory; none on the
interpreter; registers and occupancy of a real kernel on a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.eval.kernel_profile import occupancy
from kernelevolve.problem import load_problem

ROOT = Path(__file__).resolve().parents[2]
H100 = (2048, 65536, 233472)  # threads, registers and shared bytes per SM


def test_occupancy_is_bounded_by_the_scarcest_resource():
    assert occupancy(4, 32, 0, *H100) == 1.0  # 16 blocks of 128 threads fill the SM
    assert occupancy(4, 255, 0, *H100) == pytest.approx(2 * 128 / 2048)  # registers: 2 blocks
    assert occupancy(8, 64, 200_000, *H100) == pytest.approx(256 / 2048)  # shared memory: 1 block
    assert occupancy(4, None, 0, *H100) is None and occupancy(4, 32, 0, None, 65536, 1) is None


def test_the_interpreter_reports_no_compiled_kernels(interpreter_harness):
    problem = load_problem(ROOT / "tests" / "eval" / "problems" / "scale_add.py")
    result = interpreter_harness.evaluate(problem, (ROOT / "tests" / "search" / "data" / "seed_scale_add.py").read_text())
    assert result.correct and result.kernels == []


@pytest.mark.gpu
def test_a_gpu_result_carries_each_compiled_kernels_registers_and_occupancy(cache_dir):
    from kernelevolve.eval.harness import Harness
    from kernelevolve.platform import detect

    problem = load_problem(ROOT / "examples" / "softmax" / "problem.py")
    with Harness(detect("cuda"), cache_dir=cache_dir) as harness:
        result = harness.evaluate(problem, (ROOT / "examples" / "softmax" / "kernel.py").read_text())
    assert result.correct, result.reason
    assert {k.name for k in result.kernels} == {"softmax_kernel"}
    for kernel in result.kernels:
        assert kernel.registers and kernel.registers > 0 and kernel.spills is not None
        assert kernel.num_warps in (4, 8) and 0 < kernel.occupancy <= 1
