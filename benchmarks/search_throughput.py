"""Candidates per GPU-minute of a real search, and where the time goes.

    python benchmarks/search_throughput.py [--platform cuda] [--only mbdt --only conv1d ...]
        [--steps 40] [--seconds 90] [--workers 1 --workers 8] [--early-stop 1.5] [--append]

For each multi-shape recsys operator, a tuner search from the suite's sample kernel runs with each
``--workers`` setting (1: one candidate at a time, as before the pipelined evaluator; more:
compilation and checks of several candidates overlap while one has the GPU to itself for timing).
The rate counts the candidates evaluated after the seed (references, baselines and the sample's first
evaluation are a run's fixed start-up cost: done once before the search's clock starts and reported
apart, as warm-up), per minute of wall time per GPU. The
breakdown sums the workers' phases over the candidates: preparing (loading the problem, warming up
baselines), compiling (Triton's own hooks), checking, waiting at the GPU's gate and timing; the
GPU's idle share is the wall time when no candidate was timing on it. Timing includes reading the
input sets the harness places one at a time (shown apart).

Writes benchmarks/results/search_throughput-<platform>.{json,md} after every operator and setting.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelevolve.bench import SAMPLES_ROOT  # noqa: E402
from kernelevolve.eval.harness import Harness  # noqa: E402
from kernelevolve.eval.placement import gpus_here  # noqa: E402
from kernelevolve.eval.result import EvalResult  # noqa: E402
from kernelevolve.config import OptimizeConfig  # noqa: E402
from kernelevolve.platform import detect  # noqa: E402
from kernelevolve.problem import load_problem  # noqa: E402
from kernelevolve.search.optimize import assemble, execute  # noqa: E402
from kernelevolve.store import open_store  # noqa: E402

SUITE = ROOT / "suites" / "recsys"
PHASES = ("prepare_s", "compile_s", "check_s", "gate_s", "time_s", "feed_s")


def search(problem_path: Path, platform, workers: int, steps: int, seconds: float, early_stop: float,
           work: Path, gpus: list[str] | None = None) -> dict:
    """One tuner search of ``problem_path`` from its sample kernel, ``workers`` evaluations at once
    on ``gpus`` (default: the first GPU); its rate, phases and GPU use."""
    problem = load_problem(problem_path)
    sample = SAMPLES_ROOT / "recsys" / problem_path.name
    if gpus is None:
        gpus = gpus_here()[:1] if platform.timed else []
    tag = f"{problem.name}-w{workers}-g{len(gpus)}"
    store = open_store(f"sqlite:///{work / f'{tag}.db'}", objects=work / f"objects-{tag}")
    seeded: list[float] = []
    with Harness(platform, workers=workers, gpus=gpus, cache_dir=work / "cache", timeout_s=600,
                 hidden=store.private_paths()) as harness:
        warm = time.monotonic()  # references, baselines and the sample once, outside the search's clock
        harness.reference_set(problem)
        refs_s = time.monotonic() - warm
        first = harness.evaluate(problem, sample.read_text())
        warm_s = time.monotonic() - warm
        say(f"{tag}: references {refs_s:.1f} s, the sample {warm_s - refs_s:.1f} s ({first.status.value}; "
            f"{_phases(first)})")
        config = OptimizeConfig(problem=problem_path, seeds=[sample], steps=steps, max_seconds=seconds, run=tag,
                                workers=workers, early_stop=early_stop, platform=platform.name,
                                search_untimed=True)  # every step, on the interpreter too
        started = time.monotonic()

        def progress(p) -> None:
            if p.steps_done == 1 and not seeded:
                seeded.append(time.monotonic())
            say(f"{tag}: {time.monotonic() - started:6.1f} s, step {p.steps_done}: {p.last}")

        outcome = execute(assemble(config, problem, harness, store), on_progress=progress)
        ended = time.monotonic()
        run = outcome.run
        alone_s = sum(g.alone_s for g in harness.candidates.gates.values())
    results = [EvalResult.model_validate(store.read_result(r)) for r in store.nodes(run.id)[1:]
               if r.status != "no_candidate"]
    store.close()
    after_seed = ended - (seeded[0] if seeded else started)
    candidates = max(0, outcome.nodes - 1)
    phases = {name: round(sum((r.phases.get(name) or 0.0) for r in results), 2) for name in PHASES}
    return {
        "operator": problem.name, "workers": workers, "gpus": len(gpus), "candidates": candidates,
        "stop": outcome.stop_reason, "warmup_s": round(warm_s, 1),
        "startup_s": round((seeded[0] if seeded else ended) - started, 1),
        "search_s": round(after_seed, 1),
        "per_gpu_minute": round(candidates / (after_seed / 60) / max(1, len(gpus)), 1) if after_seed > 0 else None,
        "phases_s": phases, "gpu_timing_s": round(alone_s, 1),
        "gpu_idle_share": round(1 - alone_s / (ended - started), 3) if ended > started else None,
        "stopped_early": sum(1 for r in results if r.timing_stopped is not None),
        "correct": sum(1 for r in results if r.correct),
        "best": outcome.best.score if outcome.best else None,
    }


def say(line: str) -> None:
    """A progress line, at once: a run cut short still tells where its time went."""
    print(line, file=sys.stderr, flush=True)


def _phases(result: EvalResult) -> str:
    return ", ".join(f"{name} {value:.1f}" for name, value in result.phases.items() if isinstance(value, float))


def environment(platform, argv: list[str]) -> dict:
    """What a results file says about where and how it was measured."""
    import torch
    import triton

    return {"device": platform.device_name or host.processor() or host.machine(), "platform": platform.name,
            "versions": {"torch": torch.__version__, "triton": triton.__version__, "python": host.python_version()},
            "cpus": os.cpu_count(), "command": "python " + " ".join(argv),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rows": []}


def heading(report: dict, title: str) -> list[str]:
    """A results file's title and the line saying how and where it was measured."""
    return [f"# {title} on {report['device']}", "",
            f"`{report['command']}` — torch {report['versions']['torch']}, triton {report['versions']['triton']}, "
            f"{report['cpus']} host cores, {report['date']}.", ""]


def markdown(report: dict) -> str:
    lines = [*heading(report, "Search throughput"),
             "| operator | workers | candidates | per GPU-minute | warm-up s | seed s | search s | compile s | check s "
             "| gate wait s | time s | reading sets s | GPU idle | stopped early | correct | best |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        p = r["phases_s"]
        lines.append(f"| {r['operator']} | {r['workers']} | {r['candidates']} | {r['per_gpu_minute']} | "
                     f"{r['warmup_s']} | {r['startup_s']} | {r['search_s']} | {p['compile_s']} | {p['check_s']} | {p['gate_s']} | "
                     f"{p['time_s']} | {p.get('feed_s', '')} | {r['gpu_idle_share']:.0%} | {r['stopped_early']} | {r['correct']} | "
                     f"{r['best'] if r['best'] is None else round(r['best'], 3)} |")
    lines += ["", "Phases are summed over the candidates (they overlap when workers > 1); GPU idle is the share "
              "of the run's wall time in which no candidate was being timed."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--platform", default="auto")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--workers", type=int, action="append", default=[])
    parser.add_argument("--early-stop", type=float, default=1.5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--append", action="store_true",
                        help="keep the rows already in the results file (same device and versions), so that "
                             "settings can run as separate, shorter commands")
    args = parser.parse_args()
    platform = detect(args.platform)
    names = args.only or ["mbdt", "wukong_fm", "interformer_pffn"]
    settings = args.workers or [1, min(8, os.cpu_count() or 1)]
    report = environment(platform, sys.argv)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"search_throughput-{platform.name}"
    if args.append and stem.with_suffix(".json").is_file():
        earlier = json.loads(stem.with_suffix(".json").read_text())
        if (earlier["device"], earlier["versions"]) == (report["device"], report["versions"]):
            report["rows"] = earlier["rows"]
            report["command"] = f"{earlier['command']}, then {report['command']}"
        else:
            say(f"--append: {stem.with_suffix('.json')} was measured on {earlier['device']} with other versions; "
                "starting a new file")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for workers in settings:
                row = search(SUITE / f"{name}.py", platform, workers, args.steps, args.seconds, args.early_stop,
                             Path(tmp))
                report["rows"].append(row)
                print(json.dumps(row), flush=True)
                stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
                stem.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
