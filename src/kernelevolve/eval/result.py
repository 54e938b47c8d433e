"""The evaluation result: the plain data every other part reads about one candidate."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, field_validator

from kernelevolve.graph import Status


def _finite_or_word(value: float) -> float | str:
    """NaN and infinities as the words Python's ``float()`` reads back: JSON has no literal for
    them, and the store refuses ``NaN`` (a result with an unwritten output carries one)."""
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


# A float that any JSON reader accepts: ``model_dump(mode="json")`` writes non-finite values as
# "nan", "inf" or "-inf"; validation turns those strings back into floats.
Real = Annotated[float, PlainSerializer(_finite_or_word, when_used="json")]


class ExactCheck(BaseModel):
    """An output outside tolerance of PyTorch's, judged against the float64 reference instead."""

    candidate_max_error: Real  # max |out - exact|
    reference_max_error: Real  # max |PyTorch's output - exact|
    mismatched: int  # elements beyond atol + rtol·|exact| + EXACT_SLACK·|PyTorch's - exact|


class Mismatch(BaseModel):
    """Where and by how much a candidate's output left the reference."""

    output_index: int = 0
    max_abs_error: Real | None = None
    max_rel_error: Real | None = None
    mismatched: int = 0
    total: int = 0
    first_bad_index: list[int] | None = None
    got: Real | None = None
    expected: Real | None = None
    atol: Real | None = None
    rtol: Real | None = None
    pattern: str = ""
    exact: ExactCheck | None = None  # the float64 rule, where the case has a float64 reference


class ShapeTiming(BaseModel):
    """Timings of one production shape, all taken with the same method in the same worker."""

    shape: str
    candidate_ms: Real
    eager_ms: Real | None = None
    compile_ms: Real | None = None
    extra_baselines_ms: dict[str, Real] = Field(default_factory=dict)
    speedup: Real | None = None  # compile / candidate
    speedup_eager: Real | None = None
    gbps: Real | None = None
    tflops: Real | None = None
    fraction_of_peak_bandwidth: Real | None = None
    fraction_of_peak_compute: Real | None = None
    method: str = ""
    wall_ms: Real | None = None
    launch_ms: Real | None = None  # host time to queue one candidate call (hidden from candidate_ms)


    def best_pytorch(self) -> tuple[str, float]:
        """The fastest PyTorch path measured for this shape: (name, ms)."""
        options = {"eager": self.eager_ms, "torch.compile": self.compile_ms, **self.extra_baselines_ms}
        return min(((k, v) for k, v in options.items() if v), key=lambda kv: kv[1])


def geomean(values: Iterable[float | None]) -> float | None:
    """Geometric mean of the values given (None skipped); None when there are none."""
    present = [v for v in values if v]
    return math.exp(sum(map(math.log, present)) / len(present)) if present else None


class Incumbent(BaseModel):
    """The run's best node so far, as early stop compares a candidate's timings with it."""

    node: int
    score: Real
    shape_ms: dict[str, Real]  # its candidate time per production shape
    ratio: Real = 1.5  # abandon timing after a shape where the candidate took more than ratio x its time

    @classmethod
    def of(cls, node: int, score: float, timings: list[dict[str, Any]], ratio: float) -> Incumbent | None:
        """From a node's stored timings; None when it has none (nothing to compare with)."""
        shape_ms = {t["shape"]: t["candidate_ms"] for t in timings if t.get("candidate_ms")}
        return cls(node=node, score=score, shape_ms=shape_ms, ratio=ratio) if shape_ms and ratio else None


class KernelProfile(BaseModel):
    """One compiled kernel of a candidate, from Triton's compiled metadata (GPU platforms only)."""

    name: str
    registers: int | None = None  # per thread
    spills: int | None = None  # registers spilled to local memory
    shared_bytes: int = 0
    num_warps: int = 0
    num_stages: int = 0
    occupancy: Real | None = None  # share of the SM's thread slots resident blocks fill


class NcuKernel(BaseModel):
    """One kernel launch as Nsight Compute measured it; shares of peak as fractions (0.73 is 73%)."""

    name: str
    duration_ns: Real | None = None
    dram_throughput: Real | None = None  # DRAM bandwidth used, share of its peak
    memory_throughput: Real | None = None  # the busiest memory unit (L1, L2, DRAM), share of its peak
    compute_throughput: Real | None = None  # the busiest SM pipeline, share of its peak
    achieved_occupancy: Real | None = None  # active warps per SM, share of the SM's warp slots
    theoretical_occupancy: Real | None = None
    cycles_per_issue: Real | None = None  # warp cycles between two issued instructions
    stalls: dict[str, Real] = Field(default_factory=dict)  # stall reason -> share of those cycles, largest first

    def bound(self) -> str:
        """memory-bound or compute-bound by the nearer roof; latency-bound when neither is near
        (both under 60% of peak, where Nsight Compute's own rule looks at latency)."""
        memory = max(self.memory_throughput or 0.0, self.dram_throughput or 0.0)
        compute = self.compute_throughput or 0.0
        if max(memory, compute) < 0.6:
            return "latency-bound"
        return "memory-bound" if memory >= compute else "compute-bound"

    def top_stalls(self, count: int = 2) -> list[tuple[str, float]]:
        """The largest stall reasons ('selected' is a warp issuing, not a stall)."""
        return [(r, v) for r, v in self.stalls.items() if r != "selected"][:count]

    def summary(self) -> str:
        """One line: 'memory-bound: DRAM 73% of peak, achieved occupancy 82%, top stall: long scoreboard 81%'."""
        parts = []
        if self.dram_throughput is not None:
            parts.append(f"DRAM {self.dram_throughput:.0%} of peak")
        if self.compute_throughput is not None:
            parts.append(f"compute {self.compute_throughput:.0%} of peak")
        if self.achieved_occupancy is not None:
            parts.append(f"achieved occupancy {self.achieved_occupancy:.0%}")
        stalls = self.top_stalls(1)
        if stalls:
            parts.append(f"top stall: {stalls[0][0]} {stalls[0][1]:.0%}")
        return f"{self.bound()}: {', '.join(parts)}"


class NcuProfile(BaseModel):
    """Nsight Compute's measurement of a correct candidate at one production shape (``--profile``),
    or why there is none: ``error`` says in one line what refused or failed."""

    shape: str = ""
    kernels: list[NcuKernel] = Field(default_factory=list)  # the profiled launches, longest first
    error: str = ""
    seconds: Real | None = None  # how long the profile took, ncu's start to its report

    @property
    def main(self) -> NcuKernel | None:
        """The launch that took longest: the one a hypothesis is about."""
        return self.kernels[0] if self.kernels else None

    def summary(self) -> str:
        main = self.main
        if main is None:
            return f"no NCU profile: {self.error or 'no kernel was profiled'}"
        others = f" (the longest of {len(self.kernels)} launches)" if len(self.kernels) > 1 else ""
        return f"NCU on shape {self.shape}, {main.name}{others}: {main.summary()}"


class TimingStop(BaseModel):
    """Why a correct candidate's timing was abandoned before its last production shape."""

    shape: str  # the shape after which it stopped
    node: int  # the incumbent it was compared with
    candidate_ms: Real
    incumbent_ms: Real
    untimed: list[str]  # the production shapes left untimed
    estimated_speedup: Real | None = None  # the incumbent's score scaled by the measured ratios

    def sentence(self) -> str:
        return (f"timing stopped after shape {self.shape}: {self.candidate_ms / self.incumbent_ms:.2f}x the time "
                f"of node {self.node} there ({self.candidate_ms:.4g} ms against {self.incumbent_ms:.4g} ms); "
                f"{len(self.untimed)} shape(s) left untimed, score estimated from node {self.node}'s")


class CaseResult(BaseModel):
    """Correctness of one (shape, trial) case."""

    shape: str
    trial: int
    distribution: str
    correct: bool
    mismatch: Mismatch | None = None
    by_exact: bool = False  # outside tolerance of PyTorch's output, within the float64 rule


class Failure(BaseModel):
    """Why a candidate did not pass, as fields: what a later stage (the diagnosis, a prompt) reads,
    never parsed back out of ``EvalResult.reason``, which is written from these fields."""

    shape: str | None = None  # the case it happened on, when it happened on one
    trial: int | None = None
    repetition: int | None = None  # a timed repetition (its own input set), when it happened in one
    distribution: str | None = None
    during: str = ""  # what was under way off a case: "importing the candidate", "timing" …
    error_class: str = ""  # the exception's class, for a candidate that raised
    message: str = ""  # the decisive text: the exception's message, the rule broken, the mismatch
    kernel_line: str = ""  # "kernel.py line 12: tl.store(...)", the candidate's line that raised

    @property
    def where(self) -> str:
        if self.shape is None:
            return ""
        text = f"shape {self.shape}" + (f", trial {self.trial}" if self.trial is not None else "")
        text += f", timed repetition {self.repetition}" if self.repetition is not None else ""
        return text + (f" ({self.distribution} inputs)" if self.distribution else "")

    def sentence(self) -> str:
        text = f"{self.error_class}: {self.message}" if self.error_class else self.message
        if self.kernel_line:
            text += f" ({self.kernel_line})"
        if self.during:
            text = f"{self.during} failed: {text}"
        return f"{self.where}: {text}" if self.where else text


class EvalResult(BaseModel):
    """What happened to one candidate on one problem on one platform.

    A failure is a result: every status other than ``ok`` carries a reason a person can act on,
    and ``score`` is 0 for anything that is not correct.
    """

    status: Status
    correct: bool = False
    reason: str = ""
    failure: Failure | None = None  # set for every status but ok (results stored before it: None)
    platform: str = ""
    device: str = ""
    speedup: Real | None = None
    speedup_eager: Real | None = None
    timings: list[ShapeTiming] = Field(default_factory=list)
    cases: list[CaseResult] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    # known limits of the Triton interpreter this failing verdict touches (eval/interpreter_limits.py)
    interpreter_limits: list[str] = Field(default_factory=list)
    skipped_shapes: list[str] = Field(default_factory=list)  # too large to check on the interpreter
    # how the problem was judged where that is not as its file says (check sizes, dropped redraws)
    notes: list[str] = Field(default_factory=list)
    log_tail: str = ""
    versions: dict[str, str] = Field(default_factory=dict)
    timing_method: str = ""
    sandbox: str = ""  # the OS confinement the candidate ran under, and what this machine lacked
    gpu: str | None = None  # the device id (as CUDA_VISIBLE_DEVICES names it) that evaluated it
    timing_stopped: TimingStop | None = None  # early stop: timing abandoned against the incumbent
    # seconds of prepare, compile, check, gate and time; and compiles, how many kernels were compiled
    phases: dict[str, int | Real | None] = Field(default_factory=dict)
    # hash of every launch (kernel, arguments by shape, grid, options) and PyTorch op of the checked calls
    launch_fingerprint: str | None = None
    kernels: list[KernelProfile] = Field(default_factory=list)  # compiled kernels; empty on the interpreter
    ncu: NcuProfile | None = None  # Nsight Compute's profile of a correct kernel (--profile on a GPU)
    duplicate_of: str | None = None  # source hash of an earlier candidate with the same launches (timings reused)
    elapsed_s: Real = 0.0
    source_hash: str = ""
    problem_hash: str = ""

    @field_validator("status")
    @classmethod
    def _a_verdict(cls, status: Status) -> Status:
        if status is Status.no_candidate:
            raise ValueError("no_candidate is a node's status, never an evaluation's verdict")
        return status

    @property
    def score(self) -> float:
        """Fitness: speedup against torch.compile; 0 when incorrect; 1 where timing means nothing."""
        if not self.correct:
            return 0.0
        if self.speedup is None or not math.isfinite(self.speedup):
            return 1.0
        return self.speedup

    @property
    def is_buggy(self) -> bool:
        return not self.correct
