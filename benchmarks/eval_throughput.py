"""Evaluations per minute with a warm worker, the harness's own overhead per evaluation, and the
cost of the OS sandbox.

    python benchmarks/eval_throughput.py [--platform auto|cuda|interpreter] [--evals N]

Evaluates N distinct variants of a small single-shape kernel (distinct sources, so every one is
compiled and checked afresh) after one warm-up evaluation has started the workers, computed the
references and timed the baselines; once with the sandbox off and once with it on (best-effort:
whatever this machine offers, listed in the report), alternating the modes evaluation by
evaluation so that drift hits both alike. The sandbox's cost is the difference of the median
evaluation times, and of the time to start a candidate worker (paid again after every crash).
Overhead is the harness's wall time per evaluation minus the time spent in the worker exchange.
Writes benchmarks/results/eval_throughput-<platform>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform as host
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelevolve.eval.harness import Harness  # noqa: E402
from kernelevolve.platform import detect  # noqa: E402
from kernelevolve.problem import load_problem  # noqa: E402

PROBLEM = '''
import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x, y):
        return 2 * x + y


SHAPES = {"n65536": {"n": 65536}}


def get_inputs(n=65536):
    return [torch.randn(n), torch.randn(n)]


def get_init_inputs():
    return []
'''

KERNEL = '''
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def scale_add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, 2 * x + y, mask=mask)


class ModelNew(nn.Module):
    def forward(self, x, y):
        out = torch.empty_like(x)
        n = x.numel()
        scale_add_kernel[(triton.cdiv(n, {block}),)](x, y, out, n, BLOCK={block}, num_warps={warps})
        return out
# variant {i}
'''


def variants(count: int) -> list[str]:
    blocks, warps = [256, 512, 1024, 2048, 4096], [1, 2, 4, 8]
    return [KERNEL.format(block=blocks[i % 5], warps=warps[(i // 5) % 4], i=i) for i in range(count)]


MODES = ("off", "best-effort")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default="auto")
    parser.add_argument("--evals", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    target = detect(args.platform)
    work = Path(tempfile.mkdtemp(prefix="kernelevolve-bench-"))
    problem_path = work / "scale_add_problem.py"
    problem_path.write_text(PROBLEM)
    problem = load_problem(problem_path)
    sources = variants(args.evals + 1)
    modes = {mode: Harness(target, cache_dir=work / "cache", sandbox=mode) for mode in MODES}
    try:
        firsts, colds, starts = {}, {}, {}
        for mode, harness in modes.items():
            t0 = time.perf_counter()
            firsts[mode] = harness.evaluate(problem, sources[0])
            colds[mode] = time.perf_counter() - t0
            assert firsts[mode].correct, firsts[mode].reason
            starts[mode] = worker_start_s(harness, problem)
        walls: dict[str, list[float]] = {mode: [] for mode in MODES}
        for i, source in enumerate(sources[1:]):
            for mode in MODES if i % 2 == 0 else MODES[::-1]:
                t = time.perf_counter()
                result = modes[mode].evaluate(problem, source)
                walls[mode].append(time.perf_counter() - t)
                assert result.correct, result.reason
    finally:
        for harness in modes.values():
            harness.close()
    first = firsts["best-effort"]
    per_mode = {
        mode: {"evals_per_minute": round(60 / statistics.mean(walls[mode]), 1),
               "median_eval_s": round(statistics.median(walls[mode]), 3),
               "cold_first_eval_s": round(colds[mode], 2), "worker_start_s": round(starts[mode], 3),
               "sandbox": firsts[mode].sandbox}
        for mode in MODES
    }
    report = {
        "what": "evaluations per minute of distinct single-shape kernel variants with a warm worker",
        "platform": target.name,
        "device": first.device,
        "versions": first.versions,
        "timing_method": first.timing_method or "none (interpreter: correctness only)",
        "evals": args.evals,
        "modes": per_mode,
        "sandbox_overhead_per_eval_s": round(per_mode["best-effort"]["median_eval_s"] - per_mode["off"]["median_eval_s"], 3),
        "sandbox_overhead_per_worker_start_s": round(starts["best-effort"] - starts["off"], 3),
        "cases_per_eval": len(first.cases),
        "host": {"python": host.python_version(), "machine": host.machine(), "cpus": __import__("os").cpu_count()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/eval_throughput.py " + " ".join(sys.argv[1:]),
    }
    overhead = harness_overhead(problem, target, sources[1], work)
    report.update(overhead)
    print(json.dumps(report, indent=2))
    out = Path(args.out)
    (out / f"eval_throughput-{target.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"eval_throughput-{target.name}.md").write_text(markdown(report))


def worker_start_s(harness: Harness, problem, times: int = 3) -> float:
    """Median seconds to start one more candidate worker (launcher, sandbox, torch and triton imports)."""
    from kernelevolve.eval.pool import WorkerProcess

    took = []
    for _ in range(times):
        t = time.perf_counter()
        worker = WorkerProcess("candidate", harness.platform, harness.redact, sandbox=harness.candidates.sandbox,
                               readable=frozenset({str(problem.path.parent)}), hidden=harness.candidates.hidden)
        took.append(time.perf_counter() - t)
        worker.close()
    return statistics.median(took)


def harness_overhead(problem, target, source: str, work: Path) -> dict:
    """Harness time per evaluation that is not the candidate's: static checks, request, comparison."""
    from kernelevolve.eval import harness as module

    phases: dict[str, list[float]] = {"worker": [], "judge": []}
    original_exchange, original_judge = module.Harness._exchange, module.Harness._judge

    def exchange(self, *a, **k):
        t = time.perf_counter()
        try:
            return original_exchange(self, *a, **k)
        finally:
            phases["worker"].append(time.perf_counter() - t)

    def judge(self, *a, **k):
        t = time.perf_counter()
        try:
            return original_judge(self, *a, **k)
        finally:
            phases["judge"].append(time.perf_counter() - t)

    module.Harness._exchange, module.Harness._judge = exchange, judge
    walls = []
    try:
        with Harness(target, cache_dir=work / "cache") as harness:
            harness.evaluate(problem, source)
            phases["worker"].clear(), phases["judge"].clear()
            for i in range(5):
                t = time.perf_counter()
                harness.evaluate(problem, source + f"\n# again {i}\n")
                walls.append(time.perf_counter() - t)
    finally:
        module.Harness._exchange, module.Harness._judge = original_exchange, original_judge
    wall, worker = statistics.median(walls), statistics.median(phases["worker"])
    return {
        "harness_overhead_s": round(wall - worker, 3),
        "comparison_s": round(statistics.median(phases["judge"]), 3),
        "worker_s": round(worker, 3),
    }


def markdown(r: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
    rows = "".join(
        f"| {mode} | {m['evals_per_minute']} | {m['median_eval_s']} | {m['worker_start_s']} | {m['cold_first_eval_s']} "
        f"| {m['sandbox']} |\n"
        for mode, m in r["modes"].items()
    )
    return (
        f"# Evaluation throughput ({r['platform']})\n\n"
        f"{r['what']}, on {r['device']}, {r['cases_per_eval']} cases per evaluation.\n\n"
        f"| sandbox | evals/min | median eval (s) | worker start (s) | first eval, cold (s) | confinement |\n"
        f"| --- | ---: | ---: | ---: | ---: | --- |\n{rows}\n"
        f"Sandbox cost: {r['sandbox_overhead_per_eval_s']} s per evaluation (difference of medians), "
        f"{r['sandbox_overhead_per_worker_start_s']} s per worker start. Harness overhead (sandbox on): "
        f"{r['harness_overhead_s']} s per evaluation, of which comparison {r['comparison_s']} s.\n\n"
        f"Versions: {versions}. Timing: {r['timing_method']}.\n\n"
        f"Measured {r['date']} with `{r['command']}`.\n"
    )


if __name__ == "__main__":
    main()
