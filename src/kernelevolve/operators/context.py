"""Context memory: the parent node's evaluation read as a ``Diagnosis`` (the decisive error lines,
where the output left the reference, timings against the roofline), the lineage that led to it and
the failed attempts beside it, so that the universal operator neither guesses nor repeats a mistake;
and, as OpenEvolve's prompts do, a few strong correct kernels of other branches (inspirations).

Each node's one-line summary of what it changed is read from ``tags[CHANGE_TAG]``: the controller
stores ``Proposal.reason`` there when it records the node.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pydantic import ValidationError

from kernelevolve.eval.result import (
    CaseResult,
    EvalResult,
    Failure,
    KernelProfile,
    Mismatch,
    NcuProfile,
    ShapeTiming,
)
from kernelevolve.graph import VERDICTS, Graph, NodeView, Status
from kernelevolve.operators.base import ExpansionContext
from kernelevolve.operators.prompts import percent, render_template

CHANGE_TAG = "change"  # node tag holding the Proposal.reason that produced the node
LAUNCH_BOUND_MS = 0.010  # under ~10 µs a call is dominated by launch overhead, not by the kernel
MAX_LINEAGE = 8  # steps of the root→parent history shown (the most recent ones)
MAX_FAILED_SIBLINGS = 5
MAX_INSPIRATIONS = 2  # correct kernels of other branches shown beside the lineage
INSPIRATION_CHARS = 4_000  # their sources, all together (a larger one is passed over)
MAX_REASON_LINES = 14
MAX_LOG_LINES = 8
MAX_KERNEL_FRAMES = 3  # the candidate's innermost traceback frames
MAX_LINE_CHARS = 240
MAX_SUMMARY_CHARS = 200

VERDICT_VALUES = {s.value for s in VERDICTS}
ERROR_STATUSES = {Status.syntax_error, Status.compile_error, Status.runtime_error, Status.timeout, Status.crash}

# What a bottleneck hypothesis asks retrieval for.
BOTTLENECK_TERMS = {
    "memory-bound": "memory bandwidth coalesced access vectorized loads fusion",
    "compute-bound": "tl.dot tensor cores tiling matmul num_stages",
    "launch-bound": "launch overhead kernel fusion grid size",
    "unknown": "autotune block sizes num_warps",
}
# What a different correct variant may change where nothing is timed: the aim names it, retrieval asks for it.
VARIANT_CHANGES = "tiling, block sizes, fusion"

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')
_TRACEBACK = "Traceback (most recent call last):"
_QUALIFIED = re.compile(r"^(?:[a-z_]\w*\.)+(?=[A-Z]\w*: )")  # 'triton.runtime.errors.' before a class
# Lines that never decide anything: warnings, chained-exception banners, Python's ~~~^^^ markers.
_NOISE = re.compile(
    r"^\s*(?:warnings\.warn\(|\S*Warning: |During handling of the above exception"
    r"|The above exception was the direct cause|[~^]*[~^]{2}[~^]*\s*$)"
)


@dataclass(frozen=True)
class ErrorReport:
    """A candidate that did not run to the end: its error class and the lines that decide it."""

    error_class: str  # outermost exception class named ('' for a timeout or a killed worker)
    where: str  # 'shape n4096, trial 0' when the harness says which case failed
    lines: tuple[str, ...]  # exception line, kernel.py line, compiler pointer, last log lines


@dataclass(frozen=True)
class MismatchReport:
    """Where and by how much the output left the reference, and which cases still matched."""

    where: str  # 'shape n1000, trial 0 (uniform inputs)'
    pattern: str  # where the errors sit, as the harness describes it
    case: CaseResult | None  # the first failing case; None when only the reason tells (output while timing)
    shape_params: str  # 'n=1000' from the problem's shape table ('' if unknown)
    passed: tuple[str, ...]  # 'n4096 trial 0' for each case that matched before the failure

    @property
    def numbers(self) -> Mismatch | None:
        return self.case.mismatch if self.case is not None else None

    @property
    def within_noise(self) -> bool:
        """Errors a few tolerances wide point at numerics (accumulation, precision), not at logic."""
        n = self.numbers
        if n is None or n.max_abs_error is None or not n.atol:
            return False
        return 0 < n.max_abs_error < 100 * n.atol


@dataclass(frozen=True)
class ShapeReport:
    """One production shape's timing and what bounds it."""

    timing: ShapeTiming
    bottleneck: str  # memory-bound | compute-bound | launch-bound | unknown

    def hypothesis(self) -> str:
        t = self.timing
        if self.bottleneck == "launch-bound":
            return f"launch-bound ({t.candidate_ms * 1e3:.1f} µs a call, about what a launch costs)"
        if self.bottleneck == "compute-bound":
            return f"compute-bound at {percent(t.fraction_of_peak_compute)} of peak compute ({t.tflops:.1f} TFLOP/s)"
        if self.bottleneck == "memory-bound":
            moved = f"{t.gbps:.0f} GB/s" if t.gbps is not None else "bandwidth unknown"
            if t.fraction_of_peak_bandwidth is None:
                return f"memory-bound ({moved}; no peak figures for this device)"
            return f"memory-bound at {percent(t.fraction_of_peak_bandwidth)} of peak bandwidth ({moved})"
        return "bound unknown: no peak figures for this device"


@dataclass(frozen=True)
class PerformanceReport:
    """A correct kernel's speed; ``shapes`` is empty where timing means nothing (the interpreter)."""

    speedup: float | None
    speedup_eager: float | None
    shapes: tuple[ShapeReport, ...]
    skipped_shapes: tuple[str, ...] = ()  # shapes the interpreter did not check (inputs too large)
    kernels: tuple[KernelProfile, ...] = ()  # the compiled kernels (none on the interpreter)
    ncu: NcuProfile | None = None  # Nsight Compute's measurement at one shape (--profile on a GPU)

    @property
    def timed(self) -> bool:
        return bool(self.shapes)

    @property
    def focus(self) -> ShapeReport | None:
        """The shape the hypothesis is about: the slowest against torch.compile (else the slowest)."""
        if not self.shapes:
            return None
        return min(
            self.shapes,
            key=lambda s: (math.inf if s.timing.speedup is None else s.timing.speedup, -s.timing.candidate_ms),
        )

    def hypothesis(self) -> str:
        focus = self.focus
        if focus is None:
            return "correct on every case checked; this platform does not time kernels"
        suffix = f" on shape {focus.timing.shape}" if len(self.shapes) > 1 else ""
        return focus.hypothesis() + suffix + self.profile_note() + self.ncu_note()

    def ncu_note(self) -> str:
        """What Nsight Compute measured, where it did: its bound, DRAM and compute throughput,
        achieved occupancy and top stall, on the launch that took longest."""
        if self.ncu is None or self.ncu.main is None:
            return ""
        return f"; {self.ncu.summary()}"

    def profile_note(self) -> str:
        """What the compiled kernels add to the hypothesis: spills, and occupancy under a quarter."""
        notes = [f"{k.name} spills {k.spills} registers" for k in self.kernels if k.spills]
        notes += [f"{k.name} at {percent(k.occupancy)} occupancy ({k.registers} registers a thread, "
                  f"{k.shared_bytes} B shared)" for k in self.kernels if k.occupancy is not None and k.occupancy < 0.25]
        return "".join(f"; {n}" for n in notes)


@dataclass(frozen=True)
class Step:
    """One node of the root→parent history."""

    node_id: int
    operator: str
    status: str
    score: float
    change: str


@dataclass(frozen=True)
class FailedAttempt:
    """A buggy child of the node being expanded: what it tried and why it failed."""

    node_id: int
    operator: str
    status: str
    change: str
    reason: str
    score: float = 0.0


@dataclass(frozen=True)
class Inspiration:
    """The best correct kernel of another branch of the search: a different idea that works."""

    node_id: int
    operator: str
    score: float
    change: str
    source: str


@dataclass(frozen=True)
class Diagnosis:
    """What happened to the parent node, in the terms the next kernel needs."""

    status: str | None  # the parent's Status value; None when there is no parent (a first kernel)
    reason: str = ""
    error: ErrorReport | None = None
    mismatch: MismatchReport | None = None
    rejected_rule: str | None = None
    performance: PerformanceReport | None = None
    flags: tuple[str, ...] = ()
    lineage: tuple[Step, ...] = ()
    lineage_omitted: int = 0  # earlier steps left out of ``lineage``
    failed_siblings: tuple[FailedAttempt, ...] = ()
    correct_siblings: tuple[FailedAttempt, ...] = ()  # correct children already made from this parent
    timed: bool = True  # whether the platform times kernels (untimed: a correct node's score means nothing)
    inspirations: tuple[Inspiration, ...] = ()

    def aim(self) -> str:
        """One line: what the next kernel sets out to do."""
        if self.status is None:
            return "draft: write a first kernel"
        label = self.status.replace("_", " ")
        if self.error is not None:
            return _one_line(f"fix {label}: {self.error.lines[0] if self.error.lines else self.reason}")
        if self.mismatch is not None:
            return _one_line(f"fix mismatch: {self.mismatch.pattern} on {self.mismatch.where}")
        if self.rejected_rule is not None:
            return _one_line(f"fix rejected: {self.rejected_rule}")
        if self.performance is not None and not self.performance.timed:
            # Nothing here can tell a faster kernel: a different correct one is what a GPU can judge later.
            return _one_line(f"vary: {self.performance.hypothesis()}; write a different correct variant "
                             f"({VARIANT_CHANGES}), to be timed later on a GPU")
        if self.performance is not None:
            return _one_line(f"improve: {self.performance.hypothesis()}")
        return _one_line(f"fix {label}: {self.reason}")

    def query_terms(self) -> list[str]:
        """Words for knowledge retrieval: the status first, then what the diagnosis found."""
        if self.status is None:
            return ["first kernel", "output format", "block sizes masking"]
        if self.performance is not None and not self.performance.timed:
            # No timing, no bottleneck: retrieval asks for what the aim asks, not for roofline analysis.
            return ["correct variant", VARIANT_CHANGES]
        terms = ["performance" if self.status == Status.ok.value else self.status]
        if self.error is not None:
            terms += [self.error.error_class, *self.error.lines[:1]]
        if self.mismatch is not None:
            terms.append(self.mismatch.pattern)
            if self.mismatch.within_noise:
                terms.append("numerics precision accumulation float32")
        if self.rejected_rule is not None:
            terms += ["anti-cheat", self.rejected_rule]
        if self.performance is not None:
            focus = self.performance.focus
            terms.append(BOTTLENECK_TERMS[focus.bottleneck if focus else "unknown"])
        if not (self.error or self.mismatch or self.rejected_rule or self.performance) and self.reason:
            terms.append(self.reason)
        return [t for t in terms if t]

    def render(self) -> str:
        """The diagnosis as markdown, for the prompt and for the node's diagnosis.md."""
        return render_template("diagnosis.j2", {"d": self})


# --- reading a node -------------------------------------------------------------------------------


def diagnose(ctx: ExpansionContext) -> Diagnosis:
    """The diagnosis of ``ctx.parent`` (a draft's when there is none), with its history."""
    failed = failed_siblings(ctx.graph, ctx.parent)
    correct = failed_siblings(ctx.graph, ctx.parent, buggy=False)
    others = inspirations(ctx.graph, ctx.parent)
    if ctx.parent is None:
        return Diagnosis(status=None, failed_siblings=failed, correct_siblings=correct, inspirations=others,
                         timed=ctx.platform.timed)
    lineage = lineage_steps(ctx.graph, ctx.parent)
    shown = lineage[-MAX_LINEAGE:]
    history = {"lineage": tuple(shown), "lineage_omitted": len(lineage) - len(shown), "failed_siblings": failed,
               "correct_siblings": correct, "inspirations": others, "timed": ctx.platform.timed}
    if ctx.parent.status not in VERDICT_VALUES:  # no_candidate: recorded without an evaluation
        return Diagnosis(status=ctx.parent.status, reason=str(ctx.parent.result.get("reason", "")), **history)
    result = node_result(ctx.parent)
    status = result.status
    return Diagnosis(
        status=status.value,
        reason=result.reason,
        error=error_report(result) if status in ERROR_STATUSES else None,
        mismatch=mismatch_report(result, _shape_params(ctx)) if status is Status.mismatch else None,
        rejected_rule=(result.reason or "a rule of constraints/anti-cheat.md") if status is Status.rejected else None,
        performance=performance_report(result) if status is Status.ok else None,
        flags=tuple(result.flags),
        **history,
    )


def node_result(node: NodeView) -> EvalResult:
    """The node's EvalResult; a node stored without one keeps at least its status."""
    try:
        return EvalResult.model_validate({"status": node.status, **node.result})
    except ValidationError:
        return EvalResult(status=Status(node.status), reason="(the stored evaluation result cannot be read)")


def error_report(result: EvalResult) -> ErrorReport:
    """The error class and decisive lines of a candidate that failed to parse, compile or run, read
    from the result's typed failure (a result stored before failures were typed: its reason)."""
    failure = result.failure or Failure(message=result.reason)
    head = f"{failure.error_class}: {failure.message}" if failure.error_class else failure.message
    if failure.during:
        head = f"{failure.during} failed: {head}"
    return ErrorReport(
        error_class=failure.error_class,
        where=failure.where,
        lines=tuple(decisive_lines(head, failure.kernel_line, result.log_tail)),
    )


def decisive_lines(message: str, kernel_line: str, log_tail: str) -> list[str]:
    """The lines of a failure that decide it: the failure's message and the kernel.py line it
    names, then what the worker's log adds — the candidate's own traceback frames and the
    exception, without library frames, warnings and blank lines."""
    lines = [line.rstrip() for line in message.splitlines() if line.strip() and not _NOISE.match(line)]
    lines = lines[:MAX_REASON_LINES] + ([kernel_line] if kernel_line else [])
    known = set(lines)
    lines += [line for line in log_lines(log_tail) if line not in known]
    return [_trim(line) for line in lines]


def log_lines(log_tail: str) -> list[str]:
    """The decisive tail of a worker log: its last traceback reduced to the candidate's own frames
    and the exception, else its last lines that are not noise."""
    raw = log_tail.splitlines()
    starts = [i for i, line in enumerate(raw) if line.strip() == _TRACEBACK]
    if not starts:
        return [line.rstrip() for line in raw if line.strip() and not _NOISE.match(line)][-MAX_LOG_LINES:]
    body = raw[starts[-1] + 1 :]
    frames: list[str] = []  # the candidate's frames, written as the harness writes them
    awaiting_code = False
    for i, line in enumerate(body):
        frame = _FRAME.match(line)
        if frame:
            awaiting_code = frame["path"].endswith("kernel.py")
            if awaiting_code:
                frames.append(f"kernel.py line {frame['line']}, in {frame['func']}")
        elif line.startswith(" "):  # a frame's code line, then its ^^^ markers
            if awaiting_code and line.strip():
                frames[-1] = f"{frames[-1].partition(',')[0]}: {line.strip()}"
            awaiting_code = False
        else:  # the exception: everything from here on, compiler snippets included
            exception = [_QUALIFIED.sub("", x.rstrip()) for x in body[i:] if x.strip() and not _NOISE.match(x)]
            return frames[-MAX_KERNEL_FRAMES:] + exception[:MAX_LOG_LINES]
    return frames[-MAX_KERNEL_FRAMES:]


def mismatch_report(result: EvalResult, shape_params: dict[str, str]) -> MismatchReport:
    """Where the first failing case went wrong; the reason alone when no case carries the numbers
    (the output produced while timing was wrong)."""
    passed = tuple(f"{c.shape} trial {c.trial}" for c in result.cases if c.correct)
    failing = next((c for c in result.cases if not c.correct and c.mismatch is not None), None)
    if failing is None:
        where = result.failure.where if result.failure is not None else ""
        return MismatchReport(where, result.reason, None, "", passed)
    return MismatchReport(
        where=f"shape {failing.shape}, trial {failing.trial} ({failing.distribution} inputs)",
        pattern=failing.mismatch.pattern,
        case=failing,
        shape_params=shape_params.get(failing.shape, ""),
        passed=passed,
    )


def performance_report(result: EvalResult) -> PerformanceReport:
    return PerformanceReport(
        speedup=result.speedup,
        speedup_eager=result.speedup_eager,
        shapes=tuple(ShapeReport(t, bottleneck(t)) for t in result.timings),
        skipped_shapes=tuple(result.skipped_shapes),
        kernels=tuple(result.kernels),
        ncu=result.ncu,
    )


def bottleneck(timing: ShapeTiming) -> str:
    """Launch-bound under ~10 µs; memory-bound when the reference does no FLOPs or the kernel is
    nearer the bandwidth roof than the compute roof; compute-bound otherwise."""
    if timing.candidate_ms < LAUNCH_BOUND_MS:
        return "launch-bound"
    if not timing.tflops:
        return "memory-bound"
    bandwidth, compute = timing.fraction_of_peak_bandwidth, timing.fraction_of_peak_compute
    if bandwidth is None or compute is None:
        return "unknown"
    return "memory-bound" if bandwidth > compute else "compute-bound"


# --- history --------------------------------------------------------------------------------------


def lineage_steps(graph: Graph, node: NodeView) -> list[Step]:
    """Root first, ending at ``node``."""
    return [
        Step(n.id, n.operator, n.status, n.score, _one_line(str(n.tags.get(CHANGE_TAG, ""))))
        for n in graph.lineage(node.id)
    ]


def failed_siblings(graph: Graph, parent: NodeView | None, buggy: bool = True) -> tuple[FailedAttempt, ...]:
    """The most recent buggy children of ``parent`` (buggy first kernels when there is none); with
    ``buggy=False`` its correct ones, so that expanding a parent again asks for something new
    rather than sending the same prompt and getting the same kernel back."""
    children = graph.roots() if parent is None else graph.children(parent.id)
    chosen = sorted((c for c in children if c.is_buggy == buggy), key=lambda c: -c.id)[:MAX_FAILED_SIBLINGS]
    return tuple(
        FailedAttempt(
            node_id=c.id,
            operator=c.operator,
            status=c.status,
            change=_one_line(str(c.tags.get(CHANGE_TAG, ""))),
            reason=_one_line(str(c.result.get("reason", ""))),
            score=c.score,
        )
        for c in chosen
    )


def inspirations(graph: Graph, parent: NodeView | None, k: int = MAX_INSPIRATIONS,
                 budget: int = INSPIRATION_CHARS) -> tuple[Inspiration, ...]:
    """The best correct kernel of each branch other than the parent's own (its lineage and what
    grew from it), strongest branches first, ties to the oldest; at most ``k``, their sources
    within ``budget`` characters together. A branch is what grew from one node off the parent's
    lineage, so two inspirations never come from the same line of work."""
    own = {n.id for n in graph.lineage(parent.id)} | {n.id for n in graph.subtree(parent.id)} if parent else set()
    best_of_branch: dict[int, NodeView] = {}
    for node in graph.nodes.values():
        if node.is_buggy or node.id in own or not node.source.strip():
            continue
        if parent is not None and node.source_hash == parent.source_hash:
            continue
        head = next(a for a in graph.lineage(node.id) if a.id not in own)
        held = best_of_branch.get(head.id)
        if held is None or (node.score, -node.id) > (held.score, -held.id):
            best_of_branch[head.id] = node
    chosen: list[Inspiration] = []
    left = budget
    for node in sorted(best_of_branch.values(), key=lambda n: (-n.score, n.id)):
        if len(chosen) == k:
            break
        if len(node.source) <= left:
            chosen.append(Inspiration(node.id, node.operator, node.score,
                                      _one_line(str(node.tags.get(CHANGE_TAG, ""))), node.source))
            left -= len(node.source)
    return tuple(chosen)


def _shape_params(ctx: ExpansionContext) -> dict[str, str]:
    return {s.name: ", ".join(f"{k}={v}" for k, v in s.params.items()) for s in ctx.problem.shapes}


def _one_line(text: str) -> str:
    return _trim(" ".join(text.split()), MAX_SUMMARY_CHARS)


def _trim(text: str, limit: int = MAX_LINE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

