"""``kernelevolve bench SUITE``: every operator of a suite at every production shape — eager,
torch.compile, extra baselines, the sample kernel and the best kernel a search found — saved as
JSON, a markdown table and (with matplotlib) a bar chart, each with device, versions, method and
the exact command, and beside them each search run's report (``kernelevolve report``).

A directory without sample kernels (a KernelBench level) is benchmarked from nothing: the LLM
drafts and searches each problem, and the table gives the correct rate, speedups and LLM cost."""

from __future__ import annotations

import json
import platform as host
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kernelevolve.config import OptimizeConfig
from kernelevolve.eval.harness import HarnessError
from kernelevolve.eval.result import EvalResult, geomean
from kernelevolve.platform import Platform
from kernelevolve.problem import load_problem
from kernelevolve.search.controller import Progress
from kernelevolve.search.optimize import assemble, execute, local_harness
from kernelevolve.search.winners import ShapeWinner, run_winners
from kernelevolve.store import Store

SAMPLES_ROOT = Path(__file__).parent / "knowledge" / "base" / "samples"


class BenchError(Exception):
    """The suite cannot be benchmarked as asked; the message says why."""


@dataclass
class OperatorBench:
    name: str
    problem: str
    sample: EvalResult
    best: EvalResult | None
    best_node: int | None
    search: str  # which operator searched, or why no search ran
    copy_gbps: float | None  # measured device-to-device copy bandwidth on this device
    winners: list[ShapeWinner] = field(default_factory=list)  # each shape's fastest node of the search
    run: str | None = None  # the search's run, when one ran
    report: str | None = None  # its page, relative to the results (``write_run_report``)


def sample_for(problem: Path, samples: Path) -> Path:
    path = samples / f"{problem.stem}.py"
    if not path.is_file():
        raise BenchError(f"no sample kernel for {problem.name}: expected {path}")
    return path


def suite_problems(suite: Path, only: list[str] | None = None) -> list[Path]:
    """The suite's problem files, sorted; ``only`` keeps those named (file stems), in the order named."""
    problems = sorted(p for p in suite.glob("*.py") if not p.name.startswith("_"))
    if not problems:
        raise BenchError(f"no problem files in {suite}")
    if only:
        unknown = sorted(set(only) - {p.stem for p in problems})
        if unknown:
            raise BenchError(f"not in {suite}: {', '.join(unknown)} (it has {', '.join(p.stem for p in problems)})")
        by_stem = {p.stem: p for p in problems}
        problems = [by_stem[name] for name in dict.fromkeys(only)]
    return problems


def run_suite(
    suite: Path, platform: Platform, store: Store, steps: int, llm: list[str], samples: Path | None,
    progress: Callable[[str], None] = lambda line: None, timeout: float = 600.0, only: list[str] | None = None,
    measured: Callable[[list[OperatorBench]], None] = lambda rows: None, search_seconds: float | None = None,
    sandbox: str = "best-effort", policy: str = "greedy", command: str = "", workers: int | None = None,
    early_stop: float = 1.5,
) -> list[OperatorBench]:
    """Benchmark each operator in turn; ``measured`` gets the rows so far after each one, so that an
    interrupted bench keeps what it measured. ``command`` is recorded with each search run. The
    search evaluates ``workers`` candidates at once (default: a few per GPU, eval/placement.py)."""
    problems = suite_problems(suite, only)
    samples = samples or SAMPLES_ROOT / suite.name
    sample_paths = [sample_for(path, samples) for path in problems]  # all exist before device time is spent
    # Checked before device time is spent too; each operator's search is this with its problem and sample.
    # A bench reports the --steps it was asked for, on the interpreter too (search_untimed).
    search_config = OptimizeConfig(problem=problems[0], llm=llm, steps=max(steps, 1), sandbox=sandbox, policy=policy,
                                   platform=platform.name, max_seconds=search_seconds, timeout=timeout,
                                   command=command, workers=workers, early_stop=early_stop,
                                   search_untimed=True)
    rows: list[OperatorBench] = []
    started = time.monotonic()
    with local_harness(platform, workers, timeout, sandbox, store.private_paths()) as harness:
        for i, (path, sample_path) in enumerate(zip(problems, sample_paths), 1):
            problem = load_problem(path, timeout_s=timeout)
            progress(f"[{i}/{len(problems)}, {time.monotonic() - started:.0f} s] {problem.name}: sample kernel")
            sample = harness.evaluate(problem, sample_path.read_text())
            best, best_node, search, winners, run_name = None, None, "no search (--steps 0)", [], None
            if steps > 0 and sample.correct:
                config = search_config.model_copy(update={"problem": path, "seeds": [sample_path],
                                                          "run": f"bench-{problem.name}"})
                prepared = assemble(config, problem, harness, store)
                progress(f"{problem.name}: search, {steps} steps ({prepared.operator_note}; policy {policy})")
                outcome = execute(prepared, on_progress=_step_lines(problem.name, progress))
                search = (f"{prepared.operator_note}; {outcome.nodes} nodes in run {outcome.run.name}, "
                          f"stopped by {outcome.stop_reason}")
                run_name = outcome.run.name
                if outcome.best is not None:
                    best = EvalResult.model_validate(store.read_result(outcome.best))
                    best_node = outcome.best.id
                    winners, _ = run_winners(store, outcome.run.id)
            elif not sample.correct:
                search = f"no search: the sample is {sample.status.value}"
            copy_gbps = harness.reference_set(problem).copy_gbps
            rows.append(OperatorBench(problem.name, str(path), sample, best, best_node, search, copy_gbps, winners,
                                      run_name))
            measured(rows)
    return rows


def _step_lines(name: str, progress: Callable[[str], None]) -> Callable[[Progress], None]:
    """One progress line per recorded search step."""
    seen = [-1]

    def line(p: Progress) -> None:
        if p.steps_done != seen[0]:
            seen[0] = p.steps_done
            best = "-" if p.best_score is None else f"{p.best_score:.3g}"
            progress(f"  {name}: step {p.steps_done}/{p.steps_total}, best score {best}, "
                     f"{p.elapsed_s:.0f} s: {p.last}")

    return line


def shape_rows(rows: list[OperatorBench], copy_gbps: float | None) -> list[dict[str, Any]]:
    """One row per operator and production shape, with speedups against every baseline, for the
    search's single best kernel and for each shape's own fastest node."""
    table = []
    for op in rows:
        sample = {t.shape: t for t in op.sample.timings}
        best = {t.shape: t for t in (op.best.timings if op.best else [])}
        winners = {w.shape: w for w in op.winners}
        for shape, s in sample.items():
            b = best.get(shape, s)
            kernel = b if b.candidate_ms <= s.candidate_ms else s
            base_name, base_ms = s.best_pytorch()
            dispatched = min(kernel.candidate_ms, base_ms)
            w = winners.get(shape)
            per_shape_ms = min(kernel.candidate_ms, w.kernel_ms) if w and w.kernel_ms else kernel.candidate_ms
            table.append({
                "operator": op.name, "shape": shape,
                "eager_ms": s.eager_ms, "compile_ms": s.compile_ms, "extra_ms": s.extra_baselines_ms,
                "sample_ms": s.candidate_ms, "best_ms": b.candidate_ms,
                "kernel_source": "search" if kernel is b and op.best else "sample",
                "best_pytorch": base_name, "best_pytorch_ms": base_ms,
                "speedup_vs_eager": s.eager_ms / kernel.candidate_ms if s.eager_ms else None,
                "speedup_vs_compile": s.compile_ms / kernel.candidate_ms if s.compile_ms else None,
                "speedup_vs_extra": {k: v / kernel.candidate_ms for k, v in s.extra_baselines_ms.items()},
                "speedup_vs_best_pytorch": base_ms / kernel.candidate_ms,
                "dispatch": "triton" if kernel.candidate_ms < base_ms else "pytorch",
                "speedup_after_dispatch": base_ms / dispatched,
                "gbps": kernel.gbps, "tflops": kernel.tflops,
                "fraction_of_peak_bandwidth": kernel.fraction_of_peak_bandwidth,
                "fraction_of_copy_bandwidth": kernel.gbps / copy_gbps if copy_gbps and kernel.gbps else None,
                "fraction_of_peak_compute": kernel.fraction_of_peak_compute,
                "per_shape_ms": per_shape_ms,
                "per_shape_node": w.node_id if w and w.kernel_ms == per_shape_ms else None,
                "per_shape_speedup_vs_compile": s.compile_ms / per_shape_ms if s.compile_ms else None,
            })
    return table


def summarize(shapes: list[dict[str, Any]], sample_statuses: list[str]) -> dict[str, Any]:
    """Geometric means over the production shapes (not ``ood-``) and how many samples are correct."""
    production = [r for r in shapes if not r["shape"].startswith("ood-")]
    per_shape = {"geomean_per_shape_vs_compile_production": geomean(r["per_shape_speedup_vs_compile"]
                                                                    for r in production)} \
        if all("per_shape_ms" in r for r in production) else {}
    return per_shape | {
        "geomean_vs_compile_production": geomean(r["speedup_vs_compile"] for r in production),
        "geomean_after_dispatch_production": geomean(r["speedup_after_dispatch"] for r in production),
        "correct_operators": sum(status == "ok" for status in sample_statuses), "operators": len(sample_statuses),
    }


def report(rows: list[OperatorBench], platform: Platform, command: str, steps: int,
           planned: int | None = None) -> dict[str, Any]:
    first = next((r.sample for r in rows if r.sample.device), rows[0].sample)
    copy_gbps = next((r.copy_gbps for r in rows if r.copy_gbps), None)
    table = shape_rows(rows, copy_gbps)
    return {
        "what": "recsys case-study operators: sample and searched kernels against PyTorch baselines",
        "platform": platform.name, "device": first.device, "versions": first.versions,
        "timing_method": first.timing_method, "copy_gbps": copy_gbps, "steps": steps,
        "operators_planned": planned or len(rows),
        "operators": [
            {"name": r.name, "problem": r.problem, "sample_status": r.sample.status.value,
             "sample_reason": r.sample.reason, "best_node": r.best_node, "search": r.search,
             "best_status": r.best.status.value if r.best else None, "report": r.report}
            for r in rows
        ],
        "shapes": table,
        "summary": summarize(table, [r.sample.status.value for r in rows]),
        "host": {"python": host.python_version(), "machine": host.machine()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def markdown(r: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
    per_shape = "geomean_per_shape_vs_compile_production" in r["summary"]  # results from before it lack it
    lines = [
        f"# {r['what']}", "",
        f"Device: {r['device']} ({versions}). Timing: {r['timing_method']}. "
        f"Measured copy bandwidth: {_f(r['copy_gbps'], 0)} GB/s. Search: {r['steps']} steps per operator.", "",
        "| operator | shape | eager ms | compile ms | other baselines ms (kernel vs it) | best PyTorch "
        "| kernel ms (from) | vs eager | vs compile | vs best PyTorch | after dispatch | GB/s | % copy BW | TFLOP/s |"
        + (" per-shape best ms (node) | per-shape vs compile |" if per_shape else ""),
        "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        + (" ---: | ---: |" if per_shape else ""),
    ]
    for s in r["shapes"]:
        kernel_ms = min(s["sample_ms"], s["best_ms"])
        lines.append(
            f"| {s['operator']} | {s['shape']} | {_f(s['eager_ms'], 4)} | {_f(s['compile_ms'], 4)} "
            f"| {_extras(s)} | {s['best_pytorch']} {s['best_pytorch_ms']:.4f} | {kernel_ms:.4f} ({s['kernel_source']}) "
            f"| {_x(s['speedup_vs_eager'])} | {_x(s['speedup_vs_compile'])} | {_x(s['speedup_vs_best_pytorch'])} "
            f"| {_x(s['speedup_after_dispatch'])} | {_f(s['gbps'], 0)} "
            f"| {_pct(s['fraction_of_copy_bandwidth'])} | {_f(s['tflops'], 1)} |"
            + (f" {s['per_shape_ms']:.4f} ({s['per_shape_node'] or '-'}) | {_x(s['per_shape_speedup_vs_compile'])} |"
               if per_shape else "")
        )
    summary = r["summary"]
    each = (f" Each shape's own fastest node: {_x(summary['geomean_per_shape_vs_compile_production'])} against "
            "torch.compile (`export --per-shape` dispatches to them)." if per_shape else "")
    lines += ["", f"Geometric mean over production shapes: {_x(summary['geomean_vs_compile_production'])} "
              f"against torch.compile; {_x(summary['geomean_after_dispatch_production'])} against the best "
              f"PyTorch path after shape-aware dispatch.{each} Operators whose sample is correct: "
              f"{summary['correct_operators']}/{summary['operators']}.", ""]
    planned = r.get("operators_planned", len(r["operators"]))
    if planned > len(r["operators"]):
        lines.append(f"- Partial: {len(r['operators'])} of {planned} operators measured so far.")
    for op in r["operators"]:
        if op["sample_status"] != "ok":
            lines.append(f"- {op['name']}: sample {op['sample_status']}: {op['sample_reason']}")
        report = f"; [its run's report]({op['report']})" if op.get("report") else ""
        lines.append(f"- {op['name']}: {op['search']}{report}")
    lines += ["", f"Measured {r['date']} with `{r['command']}`.", ""]
    return "\n".join(lines)


def write_chart(r: dict[str, Any], path: Path) -> bool:
    """A bar chart of speedups per operator and shape; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    shapes = r["shapes"]
    labels = [f"{s['operator']}\n{s['shape']}" for s in shapes]
    series = {"vs eager": "speedup_vs_eager", "vs torch.compile": "speedup_vs_compile",
              "vs best PyTorch": "speedup_vs_best_pytorch"}
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(shapes)), 5))
    width = 0.8 / len(series)
    for i, (label, key) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(shapes))], [s[key] or 0 for s in shapes], width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks([x + width for x in range(len(shapes))], labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("speedup of the best kernel (log scale)")
    ax.set_title(f"{r['device']}: {r['what']}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def save(r: dict[str, Any], out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.json", out / f"{stem}.md"]
    paths[0].write_text(json.dumps(r, indent=2) + "\n")
    paths[1].write_text(markdown(r))
    if write_chart(r, out / f"{stem}.png"):
        paths.append(out / f"{stem}.png")
    return paths


def write_run_report(store: Store, row: OperatorBench, out: Path, stem: str) -> None:
    """The page of the operator's search run beside the results (``<stem>-reports/<run>.html``,
    with the copy bandwidth bench measured); its path relative to ``out`` goes into ``row.report``."""
    if row.run is None:
        return
    from kernelevolve.report import write_report

    row.report = write_report(store, row.run, out / f"{stem}-reports", copy_gbps=row.copy_gbps).relative_to(out).as_posix()


def _extras(row: dict[str, Any]) -> str:
    return ", ".join(f"{name} {ms:.4f} ({_x(row['speedup_vs_extra'].get(name))})"
                     for name, ms in sorted(row["extra_ms"].items())) or "-"


def _f(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


# -- a directory without samples (a KernelBench level): drafted by the LLM ---------------------------

@dataclass
class DraftedBench:
    """One problem searched from nothing: its best kernel's result, or why there is none."""

    name: str
    problem: str
    best: EvalResult | None
    nodes: int
    cost_usd: float | None  # None: some request had no known price
    search: str


def has_samples(suite: Path, samples: Path | None) -> bool:
    return (samples or SAMPLES_ROOT / suite.name).is_dir()


def drafted_problems(suite: Path, steps: int, llm: list[str], only: list[str] | None = None) -> list[Path]:
    """The problems of a directory without samples, once it is clear they can be drafted: an LLM is
    configured and there is at least one step; BenchError saying what is missing otherwise."""
    if not llm:
        raise BenchError(f"{suite} has no sample kernels (expected {SAMPLES_ROOT / suite.name}/, or --samples DIR) and "
                         "no LLM is configured to draft them: pass --llm openai:MODEL or anthropic:MODEL "
                         "(or set KERNELEVOLVE_LLM)")
    if steps < 1:
        raise BenchError(f"{suite} has no sample kernels: give --steps N (at least 1) for the LLM to draft and "
                         "search each problem")
    return suite_problems(suite, only)


def run_drafted(
    suite: Path, platform: Platform, store: Store, steps: int, llm: list[str],
    progress: Callable[[str], None] = lambda line: None, timeout: float = 600.0, only: list[str] | None = None,
    measured: Callable[[list[DraftedBench]], None] = lambda rows: None, search_seconds: float | None = None,
    sandbox: str = "best-effort", policy: str = "greedy", command: str = "", workers: int | None = None,
) -> list[DraftedBench]:
    """Search each problem of ``suite`` from nothing for ``steps`` steps with the LLM drafting; a
    problem at fault (a random reference, a file that cannot be judged here) is a row saying why."""
    problems = drafted_problems(suite, steps, llm, only)
    search_config = OptimizeConfig(problem=problems[0], llm=llm, steps=steps, sandbox=sandbox, policy=policy,
                                   platform=platform.name, max_seconds=search_seconds, timeout=timeout,
                                   command=command, workers=workers, search_untimed=True)
    rows: list[DraftedBench] = []
    started = time.monotonic()
    with local_harness(platform, workers, timeout, sandbox, store.private_paths()) as harness:
        for i, path in enumerate(problems, 1):
            problem = load_problem(path, timeout_s=timeout)
            progress(f"[{i}/{len(problems)}, {time.monotonic() - started:.0f} s] {problem.name}: search, {steps} steps")
            try:
                harness.reference_set(problem)  # the problem's own faults, before the LLM is asked
            except HarnessError as exc:
                rows.append(DraftedBench(problem.name, str(path), None, 0, 0.0, f"not judged: {exc}"))
                measured(rows)
                continue
            config = search_config.model_copy(update={"problem": path, "run": f"bench-{problem.name}"})
            prepared = assemble(config, problem, harness, store)
            outcome = execute(prepared, on_progress=_step_lines(problem.name, progress))
            best = EvalResult.model_validate(store.read_result(outcome.best)) if outcome.best is not None else None
            nodes = store.nodes(outcome.run.id)
            rows.append(DraftedBench(problem.name, str(path), best, len(nodes), _cost(n.metrics for n in nodes),
                                     f"{prepared.operator_note}; {outcome.nodes} nodes in run {outcome.run.name}, "
                                     f"stopped by {outcome.stop_reason}"))
            measured(rows)
    return rows


def _cost(metrics: Any) -> float | None:
    total: float | None = 0.0
    for m in metrics:
        usage = (m or {}).get("usage") or {}
        if usage:
            cost = usage.get("cost_usd")
            total = None if total is None or cost is None else total + cost
    return total


def drafted_report(rows: list[DraftedBench], platform: Platform, command: str, steps: int,
                   planned: int | None = None) -> dict[str, Any]:
    """Correct rate, speedups of the correct kernels (geometric means) and what the LLM cost."""
    first = next((r.best for r in rows if r.best and r.best.device), None)
    correct = [r for r in rows if r.best is not None and r.best.correct]
    costs = [r.cost_usd for r in rows]
    return {
        "what": "problems drafted and searched by the LLM, from no sample kernel",
        "platform": platform.name, "device": first.device if first else "", "versions": first.versions if first else {},
        "steps": steps, "problems_planned": planned or len(rows),
        "problems": [
            {"name": r.name, "problem": r.problem, "correct": r.best is not None and r.best.correct,
             "status": r.best.status.value if r.best else None, "speedup_vs_compile": r.best.speedup if r.best else None,
             "speedup_vs_eager": r.best.speedup_eager if r.best else None, "nodes": r.nodes, "cost_usd": r.cost_usd,
             "search": r.search}
            for r in rows
        ],
        "summary": {
            "correct": len(correct), "problems": len(rows),
            "correct_rate": len(correct) / len(rows) if rows else None,
            "geomean_vs_compile": geomean(r.best.speedup for r in correct),
            "geomean_vs_eager": geomean(r.best.speedup_eager for r in correct),
            "cost_usd": None if any(c is None for c in costs) else sum(costs),
        },
        "host": {"python": host.python_version(), "machine": host.machine()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def drafted_markdown(r: dict[str, Any]) -> str:
    summary = r["summary"]
    versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
    lines = [
        f"# {r['what']}", "",
        (f"Platform {r['platform']} ({r['device'] or 'no device recorded'}{'; ' + versions if versions else ''}). "
         f"Search: {r['steps']} steps per problem."), "",
        "| problem | correct | status | vs torch.compile | vs eager | nodes | LLM cost |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for p in r["problems"]:
        lines.append(f"| {p['name']} | {'yes' if p['correct'] else 'no'} | {p['status'] or '-'} "
                     f"| {_x(p['speedup_vs_compile'])} | {_x(p['speedup_vs_eager'])} | {p['nodes']} | {_usd(p['cost_usd'])} |")
    rate = summary["correct_rate"]
    lines += ["", f"Correct: {summary['correct']}/{summary['problems']}"
              + (f" ({rate:.0%})" if rate is not None else "")
              + f"; geometric mean speedup of the correct kernels {_x(summary['geomean_vs_compile'])} against "
              f"torch.compile, {_x(summary['geomean_vs_eager'])} against eager; LLM cost {_usd(summary['cost_usd'])}.", ""]
    if r["problems_planned"] > len(r["problems"]):
        lines.append(f"- Partial: {len(r['problems'])} of {r['problems_planned']} problems measured so far.")
    lines += [f"- {p['name']}: {p['search']}" for p in r["problems"]]
    lines += ["", f"Measured {r['date']} with `{r['command']}`.", ""]
    return "\n".join(lines)


def save_drafted(r: dict[str, Any], out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.json", out / f"{stem}.md"]
    paths[0].write_text(json.dumps(r, indent=2) + "\n")
    paths[1].write_text(drafted_markdown(r))
    return paths


def _usd(v: float | None) -> str:
    return "unknown price" if v is None else f"${v:.4f}"
