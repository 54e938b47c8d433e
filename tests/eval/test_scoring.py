"""Scores of a correct candidate from its timings: speedups, rates, fractions of peak, review flags."""

from __future__ import annotations

import pytest

from kernelevolve.eval.result import EvalResult, Status
from kernelevolve.eval.scoring import shape_timing, summarise
from kernelevolve.platform import peak_for


def timing(ms: float, wall: float | None = None) -> dict:
    return {"median_ms": ms, "wall_median_ms": ms if wall is None else wall, "method": "cuda-events", "launch_ms": 0.01}


META = {"bytes": 2 * 4096 * 4096 * 2, "flops": 2 * 4096**3, "dtypes": ["float16"]}


def test_a_shape_is_scored_against_every_baseline_and_the_device_peak():
    flags: list[str] = []
    base = {"eager": timing(2.0), "compile": timing(1.0), "fused": timing(0.8)}
    st = shape_timing("m4096", timing(0.5), base, META, peak_for("NVIDIA H200"), False, 4200.0, flags)
    assert (st.speedup, st.speedup_eager) == (2.0, 4.0)
    assert st.extra_baselines_ms == {"fused": 0.8}
    assert st.gbps == pytest.approx(META["bytes"] / 0.5e-3 / 1e9)
    assert st.tflops == pytest.approx(META["flops"] / 0.5e-3 / 1e12)
    assert st.fraction_of_peak_compute == pytest.approx(st.tflops / peak_for("NVIDIA H200").tflops["fp16"])
    assert flags == []


def test_numbers_no_kernel_reaches_are_flagged_for_review():
    flags: list[str] = []
    shape_timing("tiny", timing(0.001, wall=0.5), {"compile": timing(1.0)}, META, None, False, 4200.0, flags)
    assert any("above the measured copy ceiling" in f for f in flags)
    assert any("wall clock" in f for f in flags)
    result = EvalResult(status=Status.ok, correct=True)
    summarise(result, [shape_timing("tiny", timing(0.01), {"compile": timing(1.0)}, META, None, False, None, [])])
    assert result.speedup == pytest.approx(100.0) and "implausibly high" in result.flags[0]


def test_the_speedup_is_the_geometric_mean_over_shapes_and_none_when_a_shape_lacks_one():
    rows = [shape_timing(s, timing(t), {"compile": timing(1.0)}, META, None, False, None, []) for s, t in
            (("a", 0.5), ("b", 2.0))]
    result = EvalResult(status=Status.ok, correct=True)
    summarise(result, rows)
    assert result.speedup == pytest.approx(1.0) and result.speedup_eager is None
