"""A real Nsight Compute profile through the harness: the bundled softmax example's kernel (small
shapes, quick references) evaluated with ``profile=True`` on a CUDA GPU with ncu on PATH (skipped
without either).

    PYTHONPATH=src python -m pytest -q -s tests/eval/test_ncu_gpu.py

With the sandbox off the profile must carry DRAM throughput and achieved occupancy; under the
default best-effort sandbox it must carry them or say in one line why ncu could not profile the
confined worker (``-s`` prints which).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kernelevolve.problem import load_problem

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = ROOT / "examples" / "softmax" / "problem.py"
SAMPLE = ROOT / "examples" / "softmax" / "kernel.py"

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(shutil.which("ncu") is None, reason="needs Nsight Compute (ncu on PATH)")]


def profiled(sandbox: str, cache_dir: Path):
    from kernelevolve.eval.harness import Harness
    from kernelevolve.platform import detect

    with Harness(detect("cuda"), cache_dir=cache_dir, sandbox=sandbox, profile=True) as harness:
        result = harness.evaluate(load_problem(PROBLEM), SAMPLE.read_text())
    assert result.correct, result.reason
    assert result.ncu is not None
    print(f"\n[sandbox {sandbox}] {result.ncu.summary()} ({result.ncu.seconds} s)")
    return result


def test_a_suite_sample_unconfined_is_profiled_with_dram_and_occupancy(cache_dir):
    profile = profiled("off", cache_dir).ncu
    assert profile.kernels, profile.error
    assert profile.shape == "512x1000"  # the first production shape
    main = profile.main
    assert main.name in {k.name for k in profile.kernels}
    assert main.dram_throughput is not None and 0 < main.dram_throughput <= 1.0
    assert main.achieved_occupancy is not None and 0 < main.achieved_occupancy <= 1.0
    assert main.stalls, "no stall reasons: did --metrics regex:smsp__average_warps_issue_stalled_* match?"
    summary = profile.summary()
    assert "DRAM" in summary and "achieved occupancy" in summary


def test_a_sandboxed_profile_has_numbers_or_one_line_why_not(cache_dir):
    result = profiled("best-effort", cache_dir)
    profile = result.ncu
    if profile.kernels:
        assert profile.main.dram_throughput is not None and profile.main.achieved_occupancy is not None
    else:
        assert profile.error and "\n" not in profile.error
    assert result.timings  # the profile never took the timing's place
