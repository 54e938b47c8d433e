"""GPU timing held by trusted code: warm-up, L2 flushed before every repetition, CUDA events around
each call, a device-wide sync ending each timed region, a wall-clock cross-check, optional CUDA
graph replay for kernels too short for launch overhead to be ignored. Several functions are timed
interleaved, round by round, so clock and thermal drift hit them alike.

Launches are hidden, not timed: before each repetition's start event the stream gets a GPU-side
spin (``torch.cuda._sleep``) a little longer than the function's host-side launch time, so the
events, the function's kernels and the end event are all queued before the GPU reaches them and
the events measure device time alone. Without it, the sync that ends every repetition leaves the
GPU idle while Python launches the next call, and for functions of 20-200 us that launch time
(and the anti-cheat guard's dispatch hooks) would land inside the events. A function that
synchronises inside itself still has its host time inside the events: that cost is its own. The
host launch time is reported separately (``launch_ms``).
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
LEAD_MIN_MS, LEAD_MAX_MS = 0.05, 5.0  # GPU-side spin queued ahead of each timed call
LEAD_FACTOR = 1.5  # the spin lasts this many times the function's measured launch time


@dataclass
class Timing:
    median_ms: float
    wall_median_ms: float
    reps: int
    method: str
    launch_ms: float = 0.0  # host time to queue one call (median), hidden from median_ms by the lead


class TimingError(Exception):
    """A function could not be timed (it failed during warm-up or capture)."""


def _flush(buffer: torch.Tensor) -> None:
    buffer.zero_()


class _Clock:
    """The events and the GPU-side lead used to time one call at a time."""

    def __init__(self) -> None:
        self.pre, self.start, self.end = (torch.cuda.Event(enable_timing=True) for _ in range(3))
        try:
            self.cycles_per_ms = _sleep_cycles_per_ms()
        except (AttributeError, RuntimeError):  # a build without the spin kernel: launches stay inside
            self.cycles_per_ms = 0.0
        self.hides_launches = self.cycles_per_ms > 0

    def call(self, fn: Callable[[], Any], flush: torch.Tensor, lead_ms: float) -> tuple[float, float, float]:
        """One repetition: (event ms, wall ms without the lead, host launch ms)."""
        _flush(flush)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        self.pre.record()
        if self.hides_launches:
            torch.cuda._sleep(int(lead_ms * self.cycles_per_ms))
        self.start.record()
        t1 = time.perf_counter()
        fn()
        t2 = time.perf_counter()
        self.end.record()
        torch.cuda.synchronize()
        wall = (time.perf_counter() - t0) * 1e3 - self.pre.elapsed_time(self.start)
        return self.start.elapsed_time(self.end), wall, (t2 - t1) * 1e3


def _sleep_cycles_per_ms() -> float:
    """GPU clock cycles per millisecond of ``torch.cuda._sleep``, measured (the clock varies)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    rates = []
    for _ in range(3):
        start.record()
        torch.cuda._sleep(1_000_000)
        end.record()
        torch.cuda.synchronize()
        rates.append(1_000_000 / max(start.elapsed_time(end), 1e-3))
    return statistics.median(rates)


def _lead_ms(launch_ms: float) -> float:
    return min(LEAD_MAX_MS, max(LEAD_MIN_MS, LEAD_FACTOR * launch_ms))


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
    """Median device time of each function, measured in interleaved rounds with the same method."""
    flush = torch.empty(L2_FLUSH_BYTES, dtype=torch.int8, device="cuda")
    launches: dict[str, float] = {}
    for name, fn in fns.items():
        try:
            host = []
            for _ in range(warmup):  # compilation and autotuning happen here, outside any timing
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                fn()
                host.append((time.perf_counter() - t0) * 1e3)
            torch.cuda.synchronize()
        except Exception as exc:  # reported with the function's name; the caller decides the status
            raise TimingError(f"{name} failed during warm-up: {type(exc).__name__}: {exc}") from exc
        launches[name] = min(host)
    clock = _Clock()
    estimates = {
        name: statistics.median(clock.call(fn, flush, _lead_ms(launches[name]))[0] for _ in range(3))
        for name, fn in fns.items()
    }
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
    hosts: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(ROUNDS):
        for name, fn in callables.items():
            reps = int(min(MAX_REPS, max(MIN_REPS, BUDGET_MS_PER_ROUND / max(estimates[name], 1e-3))))
            for _ in range(reps):
                event, wall, host = clock.call(fn, flush, _lead_ms(launches[name]))
                samples[name].append(event)
                walls[name].append(wall)
                hosts[name].append(host)
    lead = "launches hidden behind a GPU-side lead" if clock.hides_launches else "launch time included (no GPU spin)"
    label = f"{method}, {lead}, L2 flushed ({L2_FLUSH_BYTES >> 20} MiB), median of {ROUNDS} interleaved rounds"
    return {
        name: Timing(statistics.median(samples[name]), statistics.median(walls[name]), len(samples[name]), label,
                     statistics.median(hosts[name]))
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
