"""Nsight Compute (``ncu``) profiles of correct candidates (``--profile``): the command that runs a
fresh candidate worker under ncu, and the reading of ncu's CSV report into ``NcuProfile``.

ncu starts the confinement launcher, which starts the worker (``--target-processes all`` follows
it); the worker runs the candidate a few times at one shape and brackets one last call with
``cudaProfilerStart``/``Stop`` (``--profile-from-start off``), so only that call's kernels are
measured. ncu writes its report to a file of the harness's, outside the worker's home, which a
candidate cannot write; the report is still read as untrusted text: bounded, and only rows of
ncu's CSV with the metrics named here are taken.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kernelevolve.eval.pool import WorkerError, WorkerProcess
from kernelevolve.eval.result import NcuKernel, NcuProfile
from kernelevolve.platform import Platform

SECTIONS = ("SpeedOfLight", "Occupancy", "WarpStateStats")
# Each stall reason's warps per issued instruction: the reasons sum to the cycles between issues.
STALL_METRICS = r"regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$"
_STALL = re.compile(r"^smsp__average_warps_issue_stalled_(?P<reason>[a-z_]+?)_per_issue_active\.ratio$")
MAX_LAUNCHES = 8  # launches of the profiled call that ncu measures
MAX_REPORT_BYTES = 8 << 20
MAX_NAME_CHARS = 200
WARMUP_CALLS = 3  # calls before the profiled one: compilation, autotuning and caches settle

# NcuKernel field -> the names ncu gives the metric: its label on the details page, its own name.
METRICS = {
    "duration_ns": ("Duration", "gpu__time_duration.sum"),
    "dram_throughput": ("DRAM Throughput", "dram__throughput.avg.pct_of_peak_sustained_elapsed"),
    "memory_throughput": ("Memory Throughput", "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed"),
    "compute_throughput": ("Compute (SM) Throughput", "sm__throughput.avg.pct_of_peak_sustained_elapsed"),
    "achieved_occupancy": ("Achieved Occupancy", "sm__warps_active.avg.pct_of_peak_sustained_active"),
    "theoretical_occupancy": ("Theoretical Occupancy", "sm__maximum_warps_per_active_cycle_pct"),
    "cycles_per_issue": ("Warp Cycles Per Issued Instruction", "smsp__average_warp_latency_per_inst_issued.ratio"),
}
_FIELD = {name: field for field, names in METRICS.items() for name in names}
_PERCENT = {"dram_throughput", "memory_throughput", "compute_throughput", "achieved_occupancy",
            "theoretical_occupancy"}
_NANOSECONDS = {"ns": 1.0, "nsecond": 1.0, "us": 1e3, "usecond": 1e3, "ms": 1e6, "msecond": 1e6, "s": 1e9,
                "second": 1e9}
# What ncu's own error lines mean, in the terms a user acts on.
KNOWN_ERRORS = {
    "ERR_NVGPUCTRPERM": "ncu may not read the GPU's performance counters here (ERR_NVGPUCTRPERM): the driver "
                        "restricts them to administrators (NVreg_RestrictProfilingToAdminUsers=0 lifts that), "
                        "and a sandboxed worker holds no administrator rights",
}


def ncu_path() -> str | None:
    return shutil.which("ncu")


def unavailable(platform: Platform) -> str | None:
    """Why ``--profile`` cannot profile here, in one sentence; None when it can."""
    if platform.profiler != "ncu":
        return f"--profile needs Nsight Compute on an NVIDIA GPU; the {platform.name} platform has none"
    if ncu_path() is None:
        return "--profile needs Nsight Compute: ncu is not on PATH (install Nsight Compute or add its directory to PATH)"
    return None


def command(ncu: str, report: Path, kernel_names: Iterable[str]) -> list[str]:
    """The ncu prefix of a profile worker's command line: a short section set, the stall reasons,
    the kernels named (all of them where none is known), measured only between profiler start and stop."""
    names = sorted({n for n in kernel_names if n})
    filters = ["--kernel-name", "regex:" + "|".join(re.escape(n) for n in names)] if names else []
    sections = [arg for name in SECTIONS for arg in ("--section", name)]
    return [ncu, "--target-processes", "all", "--profile-from-start", "off", "--clock-control", "none",
            *sections, "--metrics", STALL_METRICS, *filters, "--launch-count", str(MAX_LAUNCHES),
            "--csv", "--page", "details", "--log-file", str(report)]


def profile(start: Callable[[tuple[str, ...]], WorkerProcess], request: Callable[[WorkerProcess], dict[str, Any]],
            kernel_names: Iterable[str], shape: str, timeout_s: float) -> NcuProfile:
    """Profile a candidate at ``shape`` in a fresh worker that ``start`` launches under ncu and
    ``request`` instructs; the profiled call holds the worker's GPU gate, as timing does. Whatever
    refuses or fails, the profile says so in one line: it never fails the evaluation."""
    ncu = ncu_path()
    if ncu is None:
        return NcuProfile(shape=shape, error="ncu is not on PATH")
    began = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="kernelevolve-ncu-"))
    report = folder / "report.csv"
    try:
        failed = _profiled_run(start, request, command(ncu, report, kernel_names), timeout_s)
        kernels, error = read_report(report)
        if failed and not kernels:
            error = _explained(error, failed)
        return NcuProfile(shape=shape, kernels=kernels, error="" if kernels else error,
                          seconds=round(time.monotonic() - began, 3))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _profiled_run(start: Callable[[tuple[str, ...]], WorkerProcess], request: Callable[[WorkerProcess], dict[str, Any]],
                  prefix: list[str], timeout_s: float) -> str:
    """Start the worker under ncu, run the candidate, wait for ncu to write its report; '' or
    what went wrong, in one line."""
    try:
        worker = start(tuple(prefix))
    except WorkerError as exc:
        return f"the worker did not start under ncu: {_first_line(str(exc))}"
    try:
        worker.gate.enter(worker)
        try:
            worker.send(request(worker))
            message = worker.receive(timeout_s)  # loading the problem and the candidate's warm-up calls
            if message.get("event") == "profile_ready":
                with worker.gate.alone(worker):
                    worker.send({"op": "profile"})
                    message = worker.receive(timeout_s)
        finally:
            worker.gate.leave(worker)
        if message.get("status") != "ran":
            failure = message.get("failure") or {}
            return f"the profiled run failed: {_first_line(failure.get('message') or message.get('reason', ''))}"
        worker.proc.wait(timeout=timeout_s)  # the worker has exited; ncu writes its report, then exits
        return ""
    except WorkerError as exc:
        return f"the profiled run failed: {_first_line(str(exc))}"
    except subprocess.TimeoutExpired:
        return f"ncu did not finish its report within {timeout_s:g} s"
    finally:
        worker.close()


def _explained(error: str, failed: str) -> str:
    """ncu's own error line where it wrote one (the cause), else what the harness saw."""
    return error if error and not error.startswith("ncu wrote no report") else failed


def _first_line(text: str) -> str:
    return _trim(next((line.strip() for line in text.splitlines() if line.strip()), "no reason given"))


def read_report(path: Path) -> tuple[list[NcuKernel], str]:
    """The launches a report measured, longest first, and ncu's error line (or why none was measured)."""
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_REPORT_BYTES).decode(errors="replace")
    except OSError:
        return [], "ncu wrote no report (it did not start the worker, or was stopped first)"
    kernels = parse(text)
    if kernels:
        return kernels, ""
    return [], error_line(text) or "ncu measured no kernel of the candidate's (no launch between profiler start and stop matched)"


def error_line(text: str) -> str:
    """ncu's first ``==ERROR==`` line (or its warning that nothing was profiled), explained where known."""
    lines = [line.strip() for line in text.splitlines()]
    for line in lines:
        if line.startswith("==ERROR=="):
            for code, meaning in KNOWN_ERRORS.items():
                if code in line:
                    return meaning
            return _trim(line.removeprefix("==ERROR==").strip())
    warning = next((line for line in lines if line.startswith("==WARNING==") and "No kernels were profiled" in line), "")
    return _trim(warning.removeprefix("==WARNING==").strip())


def parse(text: str) -> list[NcuKernel]:
    """The launches of a ``--csv --page details`` report, longest first: rows after ncu's header
    row that carry a known metric; everything else (ncu's ``==PROF==`` lines, rule rows) is passed over."""
    header: dict[str, int] | None = None
    launches: dict[str, _Launch] = {}
    rows = csv.reader(line for line in text.splitlines() if line.startswith('"'))
    try:
        for row in rows:
            if header is None:
                if {"ID", "Kernel Name", "Metric Name", "Metric Value"} <= set(row):
                    header = {name: i for i, name in enumerate(row)}
                continue
            cells = dict(zip(header, row))
            launch = launches.get(cells.get("ID", ""))
            if launch is None:
                if len(launches) >= MAX_LAUNCHES * 4:
                    continue
                launch = launches[cells.get("ID", "")] = _Launch(cells.get("Kernel Name", "")[:MAX_NAME_CHARS])
            launch.take(cells.get("Metric Name", ""), cells.get("Metric Unit", ""), cells.get("Metric Value", ""))
    except csv.Error:
        pass  # a malformed tail: keep what was read before it
    kernels = [launch.kernel() for launch in launches.values() if launch.values or launch.stalls]
    return sorted(kernels, key=lambda k: -(k.duration_ns or 0.0))


class _Launch:
    """The known metrics of one launch (one ``ID``), as its rows arrive."""

    def __init__(self, name: str):
        self.name = name
        self.values: dict[str, float] = {}
        self.stalls: dict[str, float] = {}  # reason -> warps stalled for it per issued instruction

    def take(self, metric: str, unit: str, text: str) -> None:
        value = _number(text)
        if value is None:
            return
        stall = _STALL.match(metric)
        if stall:
            if not stall["reason"].endswith("not_issued"):
                self.stalls[stall["reason"].replace("_", " ")] = value
            return
        field = _FIELD.get(metric)
        if field is None or (field in _PERCENT and unit != "%"):  # "Memory Throughput" is a rate elsewhere
            return
        if field == "duration_ns":
            scale = _NANOSECONDS.get(unit.strip().lower())
            if scale is None:
                return
            value *= scale
        self.values[field] = value / 100.0 if field in _PERCENT else value

    def kernel(self) -> NcuKernel:
        """Each stall reason as a share of the cycles between two issued instructions (ncu's own
        figure where the report has it, else the reasons' sum), largest first."""
        total = self.values.get("cycles_per_issue") or sum(self.stalls.values())
        shares = sorted(((r, v / total) for r, v in self.stalls.items()), key=lambda rv: -rv[1]) if total else []
        return NcuKernel(name=self.name, stalls=dict(shares), **self.values)


def _number(text: str) -> float | None:
    """A metric value as ncu prints it ('31,392', '72.81'); None for text ('n/a', a rule's words)."""
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        return None


def _trim(line: str, limit: int = 240) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
