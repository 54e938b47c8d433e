"""Timing and stream checks that only a CUDA device can exercise."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.problem import load_problem

pytestmark = pytest.mark.gpu
HERE = Path(__file__).parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="module")
def cuda_harness(tmp_path_factory):
    from kernelevolve.eval.harness import Harness
    from kernelevolve.platform import detect

    with Harness(detect("cuda"), cache_dir=tmp_path_factory.mktemp("cache")) as harness:
        yield harness


def test_correct_kernel_is_timed_against_both_baselines(cuda_harness):
    problem = load_problem(ROOT / "examples" / "softmax" / "problem.py")
    result = cuda_harness.evaluate(problem, (ROOT / "examples" / "softmax" / "kernel.py").read_text())
    assert result.status.value == "ok", result.reason
    assert len(result.timings) == len(problem.production_shapes)
    for t in result.timings:
        assert t.candidate_ms > 0 and t.eager_ms > 0 and t.compile_ms > 0
        assert t.speedup == pytest.approx(t.compile_ms / t.candidate_ms)
        assert t.gbps > 0
    assert result.speedup is not None and result.speedup > 0
    assert "L2 flushed" in result.timing_method
    assert result.versions["torch"] and result.device


def test_side_stream_launch_is_rejected(cuda_harness):
    problem = load_problem(HERE / "problems" / "scale_add.py")
    result = cuda_harness.evaluate(problem, (HERE / "kernels" / "side_stream.py").read_text())
    assert result.status.value == "rejected"
    assert "side stream" in result.reason


def test_timer_patch_is_rejected_on_gpu(cuda_harness):
    problem = load_problem(HERE / "problems" / "scale_add.py")
    result = cuda_harness.evaluate(problem, (HERE / "kernels" / "patch_event.py").read_text())
    assert result.status.value == "rejected"


def test_timing_of_a_known_copy_is_consistent():
    import torch

    from kernelevolve.eval.timing import time_interleaved

    a = torch.empty(64 << 20, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    small = torch.empty(16 << 20, dtype=torch.uint8, device="cuda")
    c = torch.empty_like(small)
    t = time_interleaved({"big": lambda: b.copy_(a), "small": lambda: c.copy_(small)})
    # four times the bytes take clearly longer, and events agree with the wall clock
    assert t["big"].median_ms > 2 * t["small"].median_ms
    assert t["big"].median_ms <= t["big"].wall_median_ms


def test_host_launch_time_is_hidden_from_device_time():
    import time

    import torch

    from kernelevolve.eval.timing import time_interleaved

    a = torch.empty(64 << 20, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)

    def slow_to_launch():
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 3e-4:  # 0.3 ms of Python before the same copy
            pass
        b.copy_(a)

    t = time_interleaved({"slow": slow_to_launch, "fast": lambda: b.copy_(a)})
    assert t["slow"].launch_ms >= 0.3
    # the copy takes ~50 us on the device either way; the 0.3 ms of launch is not in the events
    assert t["slow"].median_ms < 1.5 * t["fast"].median_ms
    assert t["slow"].median_ms < 0.25
