"""Scores of a correct candidate: per-shape timings against the baselines, rates and fractions of
the device's peak, the geometric-mean speedups, and review flags for numbers no kernel reaches."""

from __future__ import annotations

import subprocess
from typing import Any

from kernelevolve.eval.result import EvalResult, Incumbent, ShapeTiming, geomean
from kernelevolve.eval.timing import wall_disagrees
from kernelevolve.platform import Peak

IMPLAUSIBLE_SPEEDUP = 10.0


def shape_timing(shape: str, cand: dict[str, Any], base: dict[str, Any], meta: dict[str, Any], peak: Peak | None,
                 allow_tf32: bool, copy_gbps: float | None, flags: list[str]) -> ShapeTiming:
    """One shape's timings against its baselines, with bandwidth, FLOP rates and fractions of peak;
    review flags for numbers no honest kernel reaches go to ``flags``."""
    t = cand["median_ms"]
    st = ShapeTiming(shape=shape, candidate_ms=t, method=cand["method"], wall_ms=cand["wall_median_ms"],
                     launch_ms=cand.get("launch_ms"))
    if "eager" in base:
        st.eager_ms = base["eager"]["median_ms"]
        st.speedup_eager = st.eager_ms / t
    if "compile" in base:
        st.compile_ms = base["compile"]["median_ms"]
        st.speedup = st.compile_ms / t
    st.extra_baselines_ms = {k: v["median_ms"] for k, v in base.items() if k not in ("eager", "compile")}
    st.gbps = meta["bytes"] / (t * 1e-3) / 1e9
    if meta["flops"]:
        st.tflops = meta["flops"] / (t * 1e-3) / 1e12
    if peak is not None:
        st.fraction_of_peak_bandwidth = st.gbps / peak.bandwidth_gbps
        math_dtype = next((d for d in ("bfloat16", "float16") if d in meta["dtypes"]), "float32")
        key = {"bfloat16": "bf16", "float16": "fp16"}.get(math_dtype, "tf32" if allow_tf32 else "fp32")
        if st.tflops and key in peak.tflops:
            st.fraction_of_peak_compute = st.tflops / peak.tflops[key]
    if copy_gbps and st.gbps > copy_gbps * 1.05:
        flags.append(f"review: shape {shape} moves {st.gbps:.0f} GB/s, above the measured copy "
                     f"ceiling {copy_gbps:.0f} GB/s (minimum traffic assumed)")
    if wall_disagrees(cand["median_ms"], cand["wall_median_ms"]):
        flags.append(f"review: shape {shape}: CUDA events saw {cand['median_ms']:.4f} ms but the wall "
                     f"clock {cand['wall_median_ms']:.4f} ms")
    return st


def summarise(result: EvalResult, rows: list[ShapeTiming]) -> None:
    """The result's timings and its speedups (geometric means over the production shapes)."""
    result.timings = rows
    result.timing_method = rows[0].method if rows else ""
    speedups = [r.speedup for r in rows if r.speedup]
    eager = [r.speedup_eager for r in rows if r.speedup_eager]
    result.speedup = geomean(speedups) if len(speedups) == len(rows) else None
    result.speedup_eager = geomean(eager) if len(eager) == len(rows) else None
    if result.speedup and result.speedup > IMPLAUSIBLE_SPEEDUP:
        result.flags.append(f"review: speedup {result.speedup:.1f}x over torch.compile is implausibly high")
    clocks = gpu_clocks()
    if clocks:
        result.versions["clocks"] = clocks


def estimate_from_incumbent(rows: list[ShapeTiming], incumbent: Incumbent) -> float | None:
    """The score of a candidate whose timing stopped early: the incumbent's score scaled by the
    geometric mean of the time ratios on the shapes both were timed on. Below the incumbent's
    score whenever the candidate was slower there, so an early-stopped candidate never becomes a
    run's best on shapes it was not timed on."""
    ratio = geomean(incumbent.shape_ms[r.shape] / r.candidate_ms for r in rows
                    if r.shape in incumbent.shape_ms and r.candidate_ms)
    return incumbent.score * ratio if ratio is not None else None


def gpu_clocks() -> str | None:
    """SM and memory clocks at the end of timing, as nvidia-smi reports them."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=clocks.sm,clocks.mem,clocks.max.sm", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0] if out else None
