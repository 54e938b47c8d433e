"""Evaluations per minute with a warm worker, and the harness's own overhead per evaluation.

    python benchmarks/eval_throughput.py [--platform auto|cuda|interpreter] [--evals N]

Evaluates N distinct variants of a small single-shape kernel (distinct sources, so every one is
compiled and checked afresh) after one warm-up evaluation has started the workers, computed the
references and timed the baselines. Overhead is the harness's wall time per evaluation minus
the time spent inside the worker (reported by the worker log-free protocol as elapsed time).
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
    with Harness(target, cache_dir=work / "cache") as harness:
        t0 = time.perf_counter()
        first = harness.evaluate(problem, sources[0])
        cold_s = time.perf_counter() - t0
        assert first.correct, first.reason
        walls, inner = [], []
        t_all = time.perf_counter()
        for source in sources[1:]:
            t = time.perf_counter()
            result = harness.evaluate(problem, source)
            walls.append(time.perf_counter() - t)
            inner.append(result.elapsed_s)
            assert result.correct, result.reason
        total = time.perf_counter() - t_all
    report = {
        "what": "evaluations per minute of distinct single-shape kernel variants with a warm worker",
        "platform": target.name,
        "device": first.device,
        "versions": first.versions,
        "timing_method": first.timing_method or "none (interpreter: correctness only)",
        "evals": args.evals,
        "evals_per_minute": round(60 * args.evals / total, 1),
        "median_eval_s": round(statistics.median(walls), 3),
        "cold_first_eval_s": round(cold_s, 2),
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
    return (
        f"# Evaluation throughput ({r['platform']})\n\n"
        f"{r['what']}.\n\n"
        f"| device | evals/min | median eval (s) | harness overhead (s) | comparison (s) | cases/eval |\n"
        f"| --- | ---: | ---: | ---: | ---: | ---: |\n"
        f"| {r['device']} | {r['evals_per_minute']} | {r['median_eval_s']} | {r['harness_overhead_s']} "
        f"| {r['comparison_s']} | {r['cases_per_eval']} |\n\n"
        f"Versions: {versions}. Timing: {r['timing_method']}. First (cold) evaluation: {r['cold_first_eval_s']} s.\n\n"
        f"Measured {r['date']} with `{r['command']}`.\n"
    )


if __name__ == "__main__":
    main()
