"""GPU timing held by trusted code: warm-up, L2 flushed before every repetition, CUDA events around
each call, a device-wide sync ending each timed region, a wall-clock cross-check, optional CUDA
graph replay for kernels too short for launch overhead to be ignored. Several functions are timed
interleaved, round by round, so clock and thermal drift hit them alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

L2_FLUSH_BYTES = 256 * 1024 * 1024  # several times the L2 of any current GPU (H100: 50 MB)
GRAPH_BELOW_MS = 0.020  # below ~20 µs, launch overhead dominates: replay a CUDA graph instead
ROUNDS = 3
BUDGET_MS_PER_ROUND = 40.0
MIN_REPS, MAX_REPS = 5, 300
WALL_SLACK_MS = 0.05  # host launch + sync latency a wall-clock region may add to an event region


@dataclass
class Timing:
    median_ms: float
    wall_median_ms: float
    reps: int
    method: str


class TimingError(Exception):
    """A function could not be timed (it failed during warm-up or capture)."""


def _flush(buffer: torch.Tensor) -> None:
    buffer.zero_()


def _estimate_ms(fn: Callable[[], Any], flush: torch.Tensor) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(3):
        _flush(flush)
        torch.cuda.synchronize()
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def _as_graph(fn: Callable[[], Any]) -> Callable[[], Any]:
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    torch.cuda.synchronize()
    return graph.replay


def time_interleaved(fns: dict[str, Callable[[], Any]], warmup: int = 3) -> dict[str, Timing]:
    """Median time of each function, measured in interleaved rounds with the same method."""
    flush = torch.empty(L2_FLUSH_BYTES, dtype=torch.int8, device="cuda")
    for name, fn in fns.items():
        try:
            for _ in range(warmup):  # compilation and autotuning happen here, outside any timing
                fn()
            torch.cuda.synchronize()
        except Exception as exc:  # reported with the function's name; the caller decides the status
            raise TimingError(f"{name} failed during warm-up: {type(exc).__name__}: {exc}") from exc
    estimates = {name: _estimate_ms(fn, flush) for name, fn in fns.items()}
    method = "cuda-events"
    callables = dict(fns)
    if min(estimates.values()) < GRAPH_BELOW_MS:
        try:
            callables = {name: _as_graph(fn) for name, fn in fns.items()}
            method = "cuda-graph"
        except Exception:  # capture is optional: not every function is graph-safe; time all alike
            callables = dict(fns)
            method = "cuda-events (graph capture failed)"
    samples: dict[str, list[float]] = {name: [] for name in fns}
    walls: dict[str, list[float]] = {name: [] for name in fns}
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(ROUNDS):
        for name, fn in callables.items():
            reps = int(min(MAX_REPS, max(MIN_REPS, BUDGET_MS_PER_ROUND / max(estimates[name], 1e-3))))
            for _ in range(reps):
                _flush(flush)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                start.record()
                fn()
                end.record()
                torch.cuda.synchronize()
                walls[name].append((time.perf_counter() - t0) * 1e3)
                samples[name].append(start.elapsed_time(end))
    label = f"{method}, L2 flushed ({L2_FLUSH_BYTES >> 20} MiB), median of {ROUNDS} interleaved rounds"
    return {
        name: Timing(statistics.median(samples[name]), statistics.median(walls[name]), len(samples[name]), label)
        for name in fns
    }


def wall_disagrees(event_ms: float, wall_ms: float) -> bool:
    """Events that claim far less time than the wall clock saw around them."""
    return event_ms < 0.5 * (wall_ms - WALL_SLACK_MS)


def copy_bandwidth_gbps(nbytes: int = 1 << 30) -> float:
    """Measured device-to-device copy bandwidth (bytes read + written), the practical memory ceiling."""
    src = torch.empty(nbytes // 2, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    timing = time_interleaved({"copy": lambda: dst.copy_(src)})["copy"]
    return 2 * src.numel() / (timing.median_ms * 1e-3) / 1e9
