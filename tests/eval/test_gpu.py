"""Timing and stream checks that only a CUDA device can exercise."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.problem import load_problem
from tests.eval.test_corpus import CORPUS

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
    t = time_interleaved({"big": lambda _: b.copy_(a), "small": lambda _: c.copy_(small)}, [], lambda k: [], 20)
    # four times the bytes take clearly longer, and events agree with the wall clock
    assert t["big"].median_ms > 2 * t["small"].median_ms
    assert t["big"].median_ms <= t["big"].wall_median_ms


def test_host_launch_time_is_hidden_from_device_time():
    import time

    import torch

    from kernelevolve.eval.timing import time_interleaved

    a = torch.empty(64 << 20, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)

    def slow_to_launch(_):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 3e-4:  # 0.3 ms of Python before the same copy
            pass
        b.copy_(a)

    t = time_interleaved({"slow": slow_to_launch, "fast": lambda _: b.copy_(a)}, [], lambda k: [], 20)
    assert t["slow"].launch_ms >= 0.3
    # the copy takes ~50 us on the device either way; the 0.3 ms of launch is not in the events
    assert t["slow"].median_ms < 1.5 * t["fast"].median_ms
    assert t["slow"].median_ms < 0.25


MEMO = HERE / "memo"


@pytest.fixture(scope="module")
def matmul_gelu():
    return load_problem(HERE / "problems" / "matmul_gelu.py")


def _memo_source(name: str) -> str:
    return (MEMO / "honest_matmul_gelu.py").read_text() + "\n\n" + (MEMO / f"{name}.py").read_text()


@pytest.fixture(scope="module")
def honest_timing(cuda_harness, matmul_gelu):
    result = cuda_harness.evaluate(matmul_gelu, (MEMO / "honest_matmul_gelu.py").read_text())
    assert result.status.value == "ok", result.reason
    return result.timings[0].candidate_ms


@pytest.mark.parametrize("memo", ["weakref_version", "data_ptr", "content_sample"])
def test_memoised_candidate_is_timed_at_its_honest_cost_or_refused(memo, cuda_harness, matmul_gelu, honest_timing):
    result = cuda_harness.evaluate(matmul_gelu, _memo_source(memo))
    if result.status.value == "ok":  # every memo missed: it paid for the work each time
        assert result.timings[0].candidate_ms > 0.7 * honest_timing
    else:  # a memo that hit served a result for other inputs (an address reused across cases, or
        # across timed repetitions): caught by correctness or by the check of every timed output
        assert result.status.value == "mismatch", result.reason


def test_result_served_stale_while_timed_is_a_mismatch(cuda_harness, matmul_gelu):
    result = cuda_harness.evaluate(matmul_gelu, _memo_source("stale_when_timed"))
    assert result.status.value == "mismatch"
    assert "timed repetition" in result.reason


def test_numpy_on_the_host_is_rejected_on_gpu(cuda_harness):
    problem = load_problem(HERE / "problems" / "scale_add.py")
    result = cuda_harness.evaluate(problem, (HERE / "kernels" / "host_numpy_compute.py").read_text())
    assert result.status.value == "rejected"
    assert "into the host" in result.reason


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_library_style_kernel_is_ok_and_timed_on_gpu(name, cuda_harness):
    problem = load_problem(HERE / "problems" / f"{CORPUS[name]}.py")
    result = cuda_harness.evaluate(problem, (HERE / "corpus" / f"{name}.py").read_text())
    assert result.status.value == "ok", result.reason
    assert result.speedup is not None and "each on its own input set" in result.timing_method


def test_pipelined_evaluations_time_alone_and_agree():
    """Four evaluations at once on one GPU: checks overlap, each timing has the GPU alone, and the
    same kernel times the same in all four."""
    from concurrent.futures import ThreadPoolExecutor

    from kernelevolve.eval.harness import Harness
    from kernelevolve.eval.placement import gpus_here
    from kernelevolve.platform import detect

    problem = load_problem(ROOT / "examples" / "softmax" / "problem.py")
    source = (ROOT / "examples" / "softmax" / "kernel.py").read_text()
    gpus = gpus_here()[:1]
    with Harness(detect("cuda"), workers=4, gpus=gpus) as harness:
        harness.evaluate(problem, source)  # baselines first, so that the four time the candidate only
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: harness.evaluate(problem, source), range(4)))
        alone_s = harness.candidates.gates[gpus[0]].alone_s
    assert all(r.status.value == "ok" for r in results), [r.reason for r in results]
    assert all(r.gpu == gpus[0] and r.phases["time_s"] > 0 and r.phases["gate_s"] >= 0 for r in results)
    assert all(r.duplicate_of is None for r in results)  # the same source is timed again, not a duplicate
    assert alone_s >= sum(r.phases["time_s"] for r in results) * 0.9
    for shape in range(len(problem.production_shapes)):
        times = [r.timings[shape].candidate_ms for r in results]
        assert max(times) < 1.5 * min(times), times


def test_timing_stops_early_against_a_much_faster_incumbent(cuda_harness):
    from kernelevolve.eval.result import Incumbent

    problem = load_problem(ROOT / "examples" / "softmax" / "problem.py")
    shapes = [s.name for s in problem.production_shapes]
    incumbent = Incumbent(node=1, score=4.0, shape_ms={s: 1e-6 for s in shapes}, ratio=1.5)
    result = cuda_harness.evaluate(problem, (ROOT / "examples" / "softmax" / "kernel.py").read_text(),
                                   incumbent=incumbent)
    assert result.status.value == "ok" and result.correct, result.reason
    assert result.timing_stopped is not None and result.timing_stopped.untimed == shapes[1:]
    assert [t.shape for t in result.timings] == shapes[:1]
    assert result.score < incumbent.score
    assert "timing stopped after shape" in result.reason


def test_a_hybrid_candidate_keeps_its_library_gemm_and_is_timed(cuda_harness):
    files = HERE / "kernelbench"
    result = cuda_harness.evaluate(load_problem(files / "linear_relu_hybrid.py"), (files / "hybrid_kernel.py").read_text())
    assert result.status.value == "ok", result.reason
    assert result.timings and result.notes == []  # the file's own sizes: nothing shrunk on a GPU


def test_a_random_reference_is_the_problems_fault_on_gpu(cuda_harness):
    from kernelevolve.eval.harness import HarnessError

    with pytest.raises(HarnessError, match="the reference is random"):
        cuda_harness.reference_set(load_problem(HERE / "kernelbench" / "linear_dropout.py"))
