"""Context memory: what a diagnosis keeps of each kind of evaluation, the lineage and the failed
siblings it carries, the words it gives retrieval and the markdown it renders."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from kernelevolve.eval.result import (
    CaseResult,
    EvalResult,
    Failure,
    Mismatch,
    NcuProfile,
    ShapeTiming,
    Status,
)
from kernelevolve.graph import Graph, NodeView
from kernelevolve.operators.base import ExpansionContext
from kernelevolve.operators.context import (
    CHANGE_TAG,
    MAX_LINEAGE,
    Diagnosis,
    diagnose,
    inspirations,
)
from kernelevolve.platform import CudaPlatform, InterpreterPlatform
from kernelevolve.problem import DEFAULT_TOLERANCES, Problem, Shape

PROBLEM = Problem(
    path=Path("scale_add/problem.py"),
    source="class Model(nn.Module):\n    def forward(self, x, y):\n        return 2 * x + y\n",
    hash="p",
    shapes=[Shape("n4096", {"n": 4096}, timed=True), Shape("n1000", {"n": 1000}, timed=False)],
    tolerances=dict(DEFAULT_TOLERANCES),
    allow_tf32=False,
    trials=3,
)

def failed(status: Status, failure: Failure, **fields) -> EvalResult:
    """A result as the harness writes it: the typed failure, and the reason written from it."""
    return EvalResult(status=status, reason=failure.sentence(), failure=failure, **fields)


# What the harness wrote for real candidates (interpreter, and a GPU compile with its worker log).
INTERPRETER_COMPILE_ERROR = failed(
    Status.compile_error,
    Failure(shape="n4096", trial=0, error_class="InterpreterError",
            message="ValueError(\"arange's arguments must be of type tl.constexpr\")",
            kernel_line="kernel.py line 16: bad_kernel[(1,)](x, out, x.numel(), BLOCK=1024)"),
    platform="interpreter",
)
GPU_COMPILE_LOG = """\
/opt/venv/lib/python3.11/site-packages/torch/cuda/__init__.py:61: UserWarning: something about NVML
  warnings.warn(
Traceback (most recent call last):
  File "/opt/venv/lib/python3.11/site-packages/kernelevolve/eval/candidate.py", line 88, in call
    return model(*inputs)
           ^^^^^^^^^^^^^^
  File "/tmp/kernelevolve-eval-1/scratch/kernel.py", line 31, in forward
    softmax_kernel[grid](y, x, n_cols, BLOCK=block)
  File "/opt/venv/lib/python3.11/site-packages/triton/runtime/jit.py", line 419, in run
    kernel = self.compile(src, target=target, options=options.__dict__)
             ~~~~~~~~~~~~^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
triton.compiler.errors.CompilationError: at 4:11:
def softmax_kernel(y_ptr, x_ptr, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, n_cols)
           ^
"""
GPU_COMPILE_ERROR = failed(
    Status.compile_error,
    Failure(shape="rows4096", trial=0, error_class="CompilationError", message="at 4:11:",
            kernel_line="kernel.py line 31: softmax_kernel[grid](y, x, n_cols, BLOCK=block)"),
    log_tail=GPU_COMPILE_LOG,
    platform="cuda",
)
SYNTAX_ERROR = failed(Status.syntax_error,
                      Failure(error_class="SyntaxError", message="expected ':' at line 6: def forward(self, x, y)"))
RUNTIME_ERROR = failed(
    Status.runtime_error,
    Failure(shape="n1000", trial=0, error_class="RuntimeError",
            message="shape '[64, 64]' is invalid for input of size 1000",
            kernel_line="kernel.py line 25: x2 = x.view(64, 64)"),
)
TIMEOUT = EvalResult(status=Status.timeout, reason="the candidate did not finish within 30 s; its worker was killed")
CRASH = EvalResult(
    status=Status.crash,
    reason="the worker process was killed by SIGSEGV (a segfault, an out-of-bounds access or an exit call)",
    log_tail="loading kernel\n\nFatal Python error: Segmentation fault\n",
)


def failing(shape: str, trial: int, distribution: str, pattern: str, **numbers) -> CaseResult:
    """A case that left the reference at the default fp32 tolerances."""
    mismatch = Mismatch(pattern=pattern, atol=1e-4, rtol=1e-4, **numbers)
    return CaseResult(shape=shape, trial=trial, distribution=distribution, correct=False, mismatch=mismatch)


MISMATCH = EvalResult(
    status=Status.mismatch,
    reason=(
        "shape n1000, trial 0 (uniform inputs): output 0: NaN/Inf positions differ from the reference; 40/1000 "
        "elements off, max abs error 0, max rel error 0 (atol 0.0001, rtol 0.0001); first at [960]: got nan, "
        "expected 1.06219"
    ),
    cases=[
        CaseResult(shape="n4096", trial=0, distribution="normal", correct=True),
        CaseResult(shape="n4096", trial=1, distribution="uniform", correct=True),
        failing("n1000", 0, "uniform", "NaN/Inf positions differ from the reference", max_abs_error=0.0,
                max_rel_error=0.0, mismatched=40, total=1000, first_bad_index=[960], got=float("nan"),
                expected=1.0621910095214844),
    ],
)
NUMERICS_MISMATCH = EvalResult(
    status=Status.mismatch,
    reason="shape n4096, trial 2 (heavy_tailed inputs): output 0: 3.1% of elements are wrong",
    cases=[
        failing("n4096", 2, "heavy_tailed", "3.1% of elements are wrong", max_abs_error=0.0009, max_rel_error=0.002,
                mismatched=127, total=4096, first_bad_index=[17], got=812.4402, expected=812.4411),
    ],
)
TIMED_MISMATCH = EvalResult(
    status=Status.mismatch,
    reason="shape n4096: the output produced while timing is wrong: every element is wrong",
)
REJECTED = EvalResult(
    status=Status.rejected, reason="returns the same output for n4096-t0 and n4096-t1, whose inputs differ"
)
H100 = "NVIDIA H100 80GB HBM3"


def ok_result(*timings: ShapeTiming, speedup: float | None = 1.3, flags: tuple[str, ...] = ()) -> EvalResult:
    return EvalResult(
        status=Status.ok,
        correct=True,
        reason="correct on every case",
        platform="cuda",
        device=H100,
        speedup=speedup,
        speedup_eager=2.6,
        timings=list(timings),
        flags=list(flags),
        timing_method="cuda_event",
    )


def timing(shape="n4096", ms=0.050, gbps=1370.0, tflops=None, bw=0.41, compute=None, speedup=1.3) -> ShapeTiming:
    return ShapeTiming(
        shape=shape,
        candidate_ms=ms,
        compile_ms=ms * speedup,
        eager_ms=ms * 2.6,
        speedup=speedup,
        speedup_eager=2.6,
        gbps=gbps,
        tflops=tflops,
        fraction_of_peak_bandwidth=bw,
        fraction_of_peak_compute=compute,
        method="cuda_event",
    )


def node(node_id: int, result: EvalResult, parent: int | None = None, change: str = "", op: str = "llm") -> NodeView:
    tags = {CHANGE_TAG: change} if change else {}
    return NodeView(
        id=node_id,
        parent_id=parent,
        score=result.score,
        is_buggy=result.is_buggy,
        status=result.status.value,
        operator=op,
        source_hash=f"hash{node_id}",
        source=f"# kernel {node_id}\n",
        result=result.model_dump(mode="json"),
        tags=tags,
    )


def diagnosis_of(result: EvalResult, *others: NodeView) -> Diagnosis:
    """The diagnosis of a parent (id 1) that evaluated to ``result``; ``others`` join the graph."""
    parent = node(1, result)
    return diagnose(ExpansionContext(PROBLEM, parent, Graph([parent, *others]), CudaPlatform(), random.Random(0)))


# --- errors ---------------------------------------------------------------------------------------


def test_compile_error_keeps_the_exception_and_the_kernel_line():
    d = diagnosis_of(INTERPRETER_COMPILE_ERROR)
    assert d.status == "compile_error"
    assert d.error is not None and d.error.error_class == "InterpreterError"
    assert d.error.where == "shape n4096, trial 0"
    assert d.error.lines == (
        "InterpreterError: ValueError(\"arange's arguments must be of type tl.constexpr\")",
        "kernel.py line 16: bad_kernel[(1,)](x, out, x.numel(), BLOCK=1024)",
    )


def test_worker_log_adds_the_compiler_pointer_without_library_frames_or_warnings():
    lines = diagnosis_of(GPU_COMPILE_ERROR).error.lines
    assert "    offs = tl.arange(0, n_cols)" in lines
    assert "           ^" in lines
    assert lines.count("kernel.py line 31: softmax_kernel[grid](y, x, n_cols, BLOCK=block)") == 1
    text = "\n".join(lines)
    for noise in ("site-packages", "UserWarning", "warnings.warn", "^^^^", "~~~~", "return model(*inputs)"):
        assert noise not in text


def test_syntax_error_keeps_the_line_it_names():
    d = diagnosis_of(SYNTAX_ERROR)
    assert d.error.error_class == "SyntaxError" and d.error.where == ""
    assert d.error.lines == ("SyntaxError: expected ':' at line 6: def forward(self, x, y)",)


def test_runtime_error_names_the_case_and_the_class():
    d = diagnosis_of(RUNTIME_ERROR)
    assert (d.error.error_class, d.error.where) == ("RuntimeError", "shape n1000, trial 0")
    assert d.aim().startswith("fix runtime error: RuntimeError: shape '[64, 64]' is invalid")


def test_timeout_and_crash_keep_the_reason_and_the_last_log_lines():
    timeout = diagnosis_of(TIMEOUT)
    assert timeout.error.error_class == "" and timeout.error.lines == (TIMEOUT.reason,)
    crash = diagnosis_of(CRASH)
    assert crash.error.lines == (CRASH.reason, "loading kernel", "Fatal Python error: Segmentation fault")


# --- mismatch, rejected ---------------------------------------------------------------------------


def test_mismatch_says_where_and_by_how_much():
    m = diagnosis_of(MISMATCH).mismatch
    assert (m.case.shape, m.shape_params, m.case.trial, m.case.distribution) == ("n1000", "n=1000", 0, "uniform")
    n = m.numbers
    assert (n.first_bad_index, n.expected, n.mismatched, n.total) == ([960], 1.0621910095214844, 40, 1000)
    assert m.pattern == "NaN/Inf positions differ from the reference"
    assert m.passed == ("n4096 trial 0", "n4096 trial 1")
    rendered = diagnosis_of(MISMATCH).render()
    assert "first bad element at [960]: got nan, expected 1.06219" in rendered
    assert "shape n1000 (n=1000), trial 0, uniform inputs" in rendered
    assert "40 of 1000 elements off; max abs error 0, max rel error 0 (atol 0.0001, rtol 0.0001)" in rendered


def test_mismatch_a_few_tolerances_wide_asks_retrieval_about_numerics():
    assert "numerics precision accumulation float32" in diagnosis_of(NUMERICS_MISMATCH).query_terms()
    assert "numerics precision accumulation float32" not in diagnosis_of(MISMATCH).query_terms()


def test_mismatch_found_while_timing_keeps_the_harness_reason():
    d = diagnosis_of(TIMED_MISMATCH)
    assert d.mismatch.case is None and d.mismatch.pattern == TIMED_MISMATCH.reason
    assert TIMED_MISMATCH.reason in d.render()


def test_rejected_names_the_rule():
    d = diagnosis_of(REJECTED)
    assert d.rejected_rule == REJECTED.reason
    assert d.aim() == f"fix rejected: {REJECTED.reason}"
    assert "anti-cheat" in d.query_terms()


# --- ok: speed and bottleneck ---------------------------------------------------------------------


def test_ok_reports_speedups_and_the_fraction_of_peak_bandwidth():
    d = diagnosis_of(ok_result(timing()))
    p = d.performance
    assert (p.speedup, p.speedup_eager, p.shapes[0].bottleneck) == (1.3, 2.6, "memory-bound")
    assert d.aim() == "improve: memory-bound at 41% of peak bandwidth (1370 GB/s)"
    rendered = d.render()
    assert "1.30x over torch.compile; 2.60x over eager" in rendered
    assert "| n4096 | 0.0500 | 0.0650 | 0.1300 | 1.30x | 1370 | – | 41% | – | memory-bound |" in rendered


def test_nearer_the_compute_roof_is_compute_bound():
    d = diagnosis_of(ok_result(timing(ms=2.0, gbps=300.0, tflops=610.0, bw=0.09, compute=0.62)))
    assert d.performance.shapes[0].bottleneck == "compute-bound"
    assert d.aim() == "improve: compute-bound at 62% of peak compute (610.0 TFLOP/s)"
    assert any("tl.dot" in term for term in d.query_terms())


def test_a_call_under_ten_microseconds_is_launch_bound():
    d = diagnosis_of(ok_result(timing(ms=0.006, bw=0.02)))
    assert d.performance.shapes[0].bottleneck == "launch-bound"
    assert "launch overhead" in " ".join(d.query_terms())


def test_no_flops_is_memory_bound_even_without_peak_figures():
    d = diagnosis_of(ok_result(timing(bw=None)))
    assert d.performance.shapes[0].bottleneck == "memory-bound"
    assert "no peak figures" in d.aim()


def test_a_small_fraction_of_peak_keeps_a_decimal():
    d = diagnosis_of(ok_result(timing(ms=0.012, gbps=4.1, bw=0.0012)))
    assert d.aim() == "improve: memory-bound at 0.1% of peak bandwidth (4 GB/s)"
    assert "| 0.1% |" in d.render()


def test_the_hypothesis_is_about_the_slowest_shape_against_compile():
    d = diagnosis_of(ok_result(timing("small", ms=0.02, speedup=0.7, bw=0.1), timing("large", speedup=1.8)))
    assert d.performance.focus.timing.shape == "small"
    assert d.aim().endswith("on shape small")


def test_ok_on_the_interpreter_says_speed_is_not_measured():
    d = diagnosis_of(ok_result(speedup=None))
    assert not d.performance.timed
    assert "Not timed: this platform measures no speed" in d.render()
    assert d.aim().startswith("vary: correct on every case checked; this platform does not time kernels")
    assert d.aim().endswith("to be timed later on a GPU")


def test_on_a_platform_without_timing_correct_nodes_read_not_timed_rather_than_score_1():
    parent, child = node(1, ok_result(speedup=None)), node(2, ok_result(speedup=None), parent=1, change="vary")
    d = diagnose(ExpansionContext(PROBLEM, parent, Graph([parent, child]), InterpreterPlatform(), random.Random(0)))
    rendered = d.render()
    assert "#1 llm, ok, not timed" in rendered and "→ correct (not timed)" in rendered
    assert "score 1" not in rendered


def test_harness_flags_are_shown():
    flag = "review: speedup 40.0x over torch.compile is implausibly high"
    assert flag in diagnosis_of(ok_result(timing(), flags=(flag,))).render()


def test_node_stored_without_its_result_keeps_its_status():
    parent = NodeView(1, None, 0.0, True, "crash", "llm", "h", "src", result={})
    d = diagnose(ExpansionContext(PROBLEM, parent, Graph([parent]), CudaPlatform(), random.Random(0)))
    assert d.status == "crash"


def test_a_parent_recorded_without_a_kernel_is_diagnosed_from_its_reason():
    reason = "no python code block defining ModelNew: the reply has no fenced code block (aim: draft)"
    parent = NodeView(1, None, 0.0, True, "no_candidate", "llm", "h", "", {"status": "no_candidate", "reason": reason})
    d = diagnose(ExpansionContext(PROBLEM, parent, Graph([parent]), CudaPlatform(), random.Random(0)))
    assert (d.status, d.reason) == ("no_candidate", reason)
    assert d.aim() == f"fix no candidate: {reason}"
    assert d.query_terms() == ["no_candidate", reason]
    assert f"**no_candidate**: {reason}" in d.render()


# --- history --------------------------------------------------------------------------------------


def test_lineage_runs_root_first_with_what_each_step_changed():
    root = node(1, ok_result(timing()), change="draft: write a first kernel — one program per row")
    child = node(2, ok_result(timing(), speedup=1.5), parent=1, change="num_warps 4->8", op="tuner")
    parent = node(3, INTERPRETER_COMPILE_ERROR, parent=2, change="improve: memory-bound — vector loads")
    graph = Graph([root, child, parent])
    d = diagnose(ExpansionContext(PROBLEM, parent, graph, CudaPlatform(), random.Random(0)))
    assert [(s.node_id, s.operator, s.status, s.change) for s in d.lineage] == [
        (1, "llm", "ok", "draft: write a first kernel — one program per row"),
        (2, "tuner", "ok", "num_warps 4->8"),
        (3, "llm", "compile_error", "improve: memory-bound — vector loads"),
    ]
    assert "- #2 tuner, ok, score 1.5: num_warps 4->8" in d.render()


def test_a_long_lineage_keeps_its_most_recent_steps():
    chain = [node(1, ok_result(timing()))] + [node(i, ok_result(timing()), parent=i - 1) for i in range(2, 21)]
    d = diagnose(ExpansionContext(PROBLEM, chain[-1], Graph(chain), CudaPlatform(), random.Random(0)))
    assert [s.node_id for s in d.lineage] == list(range(21 - MAX_LINEAGE, 21))
    assert d.lineage_omitted == 20 - MAX_LINEAGE
    assert f"({20 - MAX_LINEAGE} earlier steps omitted)" in d.render()


def test_failed_siblings_are_the_buggy_children_of_the_parent_newest_first():
    siblings = [
        node(2, RUNTIME_ERROR, parent=1, change="fix: views instead of copies"),
        node(3, ok_result(timing()), parent=1),
        node(4, INTERPRETER_COMPILE_ERROR, parent=1, change="fix: BLOCK from n"),
        node(5, RUNTIME_ERROR, parent=4),  # a grandchild: not a sibling
    ]
    d = diagnosis_of(ok_result(timing()), *siblings)
    assert [(f.node_id, f.status, f.change) for f in d.failed_siblings] == [
        (4, "compile_error", "fix: BLOCK from n"),
        (2, "runtime_error", "fix: views instead of copies"),
    ]
    assert d.failed_siblings[0].reason.startswith("shape n4096, trial 0: InterpreterError")
    assert "(fix: BLOCK from n) → compile_error: shape n4096" in d.render()
    # the correct child is listed apart, so that expanding the parent again asks for a different change
    assert [f.node_id for f in d.correct_siblings] == [3]
    assert "Correct kernels already made from this one:\n- #3" in d.render()


def test_a_draft_has_no_status_and_lists_failed_first_kernels():
    graph = Graph([node(1, SYNTAX_ERROR, change="draft: write a first kernel"), node(2, ok_result(timing()))])
    d = diagnose(ExpansionContext(PROBLEM, None, graph, CudaPlatform(), random.Random(0)))
    assert d.status is None and d.aim() == "draft: write a first kernel"
    assert [f.node_id for f in d.failed_siblings] == [1]
    rendered = d.render()
    assert rendered.startswith("No kernel yet")
    assert "Earlier first kernels that failed" in rendered and "expected ':' at line 6" in rendered


# --- retrieval words ------------------------------------------------------------------------------


def test_query_terms_lead_with_the_status_and_the_decisive_error():
    terms = diagnosis_of(INTERPRETER_COMPILE_ERROR).query_terms()
    assert terms[:2] == ["compile_error", "InterpreterError"]
    assert any("tl.constexpr" in t for t in terms)


def test_query_terms_of_a_fast_kernel_follow_its_bottleneck():
    terms = diagnosis_of(ok_result(timing())).query_terms()
    assert terms[0] == "performance" and any("memory bandwidth" in t for t in terms)


def test_query_terms_of_an_untimed_correct_kernel_ask_for_a_variant_not_for_performance():
    terms = diagnosis_of(ok_result(speedup=None)).query_terms()
    assert terms == ["correct variant", "tiling, block sizes, fusion"]


# --- inspirations ---------------------------------------------------------------------------------


def scored(node_id: int, score: float, parent: int | None, change: str = "") -> NodeView:
    return replace(node(node_id, ok_result(speedup=score), parent, change), score=score)


def test_inspirations_are_the_best_correct_kernel_of_each_other_branch():
    broken = node(8, TIMEOUT, parent=3)
    graph = Graph([scored(1, 1.0, None), scored(2, 1.5, 1), scored(3, 2.0, 1, "tiles of 128"), scored(4, 1.8, 2),
                   scored(6, 1.2, 1), scored(7, 2.5, 3, "two stages"), broken])
    shown = inspirations(graph, graph.nodes[4])
    assert [i.node_id for i in shown] == [7, 6]  # branch 3 by its best (7), then branch 6; never 1, 2 or 4
    assert shown[0].change == "two stages" and shown[0].source == "# kernel 7\n"
    assert [i.node_id for i in inspirations(graph, graph.nodes[4], k=1)] == [7]


def test_inspirations_keep_to_their_size_budget_and_reach_the_prompt():
    big = replace(scored(3, 3.0, 1), source="x = 1\n" * 2_000)
    graph = Graph([scored(1, 1.0, None), scored(2, 1.5, 1), big, scored(6, 1.2, 1)])
    assert [i.node_id for i in inspirations(graph, graph.nodes[2])] == [6]  # node 3 is over the budget
    d = diagnose(ExpansionContext(PROBLEM, graph.nodes[2], graph, CudaPlatform(), random.Random(0)))
    assert [i.node_id for i in d.inspirations] == [6]


# --- the compiled kernels' profile ----------------------------------------------------------------


def test_the_compiled_kernels_profile_is_shown_and_summarised_into_the_hypothesis():
    from kernelevolve.eval.result import KernelProfile

    kernels = [KernelProfile(name="fused_kernel", registers=255, spills=24, shared_bytes=98304, num_warps=8,
                             num_stages=3, occupancy=0.125)]
    d = diagnosis_of(ok_result(timing()).model_copy(update={"kernels": kernels}))
    text = d.render()
    assert "| fused_kernel | 255 | 24 | 98304 | 8 | 3 | 12% |" in text
    assert "fused_kernel spills 24 registers" in d.aim()
    assert "fused_kernel at 12% occupancy (255 registers a thread, 98304 B shared)" in d.performance.hypothesis()


def test_the_interpreter_says_it_has_no_compiled_kernel_profile():
    assert "compiles no kernel (registers, spills" in diagnosis_of(ok_result(speedup=None)).render()


# --- Nsight Compute's profile (--profile) ---------------------------------------------------------


def test_the_ncu_profile_is_shown_and_summarised_into_the_hypothesis():
    from kernelevolve.eval.ncu import parse

    report = (Path(__file__).parents[1] / "eval" / "ncu" / "details.csv").read_text()
    profile = NcuProfile(shape="n4096", kernels=parse(report))
    d = diagnosis_of(ok_result(timing()).model_copy(update={"ncu": profile}))
    assert ("NCU on shape n4096, add (the longest of 2 launches): memory-bound: DRAM 73% of peak, compute 9% of "
            "peak, achieved occupancy 82%, top stall: long scoreboard 81%") in d.performance.hypothesis()
    text = d.render()
    assert "Nsight Compute on shape n4096" in text
    assert "| add | 31.39 | 73% | 73% | 8.8% | 82% | memory-bound | long scoreboard 81%, lg throttle 7.2%, wait 5.1% |" in text


def test_a_refused_ncu_profile_says_why_in_the_diagnosis():
    refused = NcuProfile(shape="n4096", error="ncu may not read the GPU's performance counters here (ERR_NVGPUCTRPERM).")
    d = diagnosis_of(ok_result(timing()).model_copy(update={"ncu": refused}))
    assert "No Nsight Compute profile: ncu may not read the GPU's performance counters here (ERR_NVGPUCTRPERM)." in d.render()
    assert "NCU" not in d.performance.hypothesis()
