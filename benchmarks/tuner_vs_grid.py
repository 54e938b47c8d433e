"""The tuner's search against the exhaustive grid of a sample kernel's tunables.

    python benchmarks/tuner_vs_grid.py [--platform interpreter|cuda] [--operators mbdt ...]
        [--radius 1] [--max-grid 27] [--seconds S] [--seeds 10] [--workers 8]

For each recsys operator: every point of the grid (each tunable of the suite's sample kernel within
``--radius`` notches of its value; past ``--max-grid`` points, or past what the operator's share
of ``--seconds`` allows at the measured time per evaluation, the later tunables stay fixed) is
evaluated once by the harness. Then each sampler searches that same space from the sample, in
``--seeds`` runs, through the real tuner (``Tuner`` with ``OptunaSearch``, or the neighbour
tuner): every proposal is answered with the grid's measurement of exactly that source, so the
search is judged on the device's numbers without timing anything twice. Reported per sampler:
the fraction of the grid's best score reached after 10%, 25% and 50% of the grid's evaluations
(median and worst over seeds). Goal: at least 95% of the grid's best within 25%. Results are
saved after each operator (benchmarks/results/tuner_vs_grid-<platform>.{json,md}) with device,
versions and command; ``--grid-only`` measures and saves the grids alone, and ``--replay FILE``
replays the searches over saved grids anywhere Optuna is installed. On the interpreter every
correct kernel scores 1.0: a smoke test only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform as host
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelevolve.eval.harness import Harness  # noqa: E402
from kernelevolve.eval.placement import gpus_here  # noqa: E402
from kernelevolve.graph import Graph, NodeView, source_hash  # noqa: E402
from kernelevolve.operators.base import ExpansionContext  # noqa: E402
from kernelevolve.operators.config_search import OptunaSearch  # noqa: E402
from kernelevolve.operators.space import Space, space_of  # noqa: E402
from kernelevolve.operators.tuner import Tuner  # noqa: E402
from kernelevolve.platform import detect  # noqa: E402
from kernelevolve.problem import Problem, load_problem  # noqa: E402

SUITE = ROOT / "suites" / "recsys"
SAMPLES = ROOT / "src" / "kernelevolve" / "knowledge" / "base" / "samples" / "recsys"
BUDGETS = (0.10, 0.25, 0.50)
SAMPLERS = ("tpe", "random", "grid", "cmaes", "neighbours")


def grid_space(sample: NodeView, radius: int, max_grid: int) -> Space:
    """The sample's space, its later tunables fixed until the grid holds at most ``max_grid`` points."""
    full = space_of(Graph([sample]), sample, radius)
    dims = list(full.dimensions)
    while len(dims) > 1 and math.prod(len(d.values) for d in dims) > max_grid:
        dims.pop()
    return space_of(Graph([sample]), sample, radius, windows={d.site.key: d.values for d in dims})


def grid_points(space: Space) -> list[tuple]:
    points = [()]
    for dim in space.dimensions:
        points = [p + (v,) for p in points for v in dim.values]
    return points


def evaluate_grid(harness: Harness, problem: Problem, sample: NodeView, radius: int, max_grid: int,
                  seconds: float, workers: int = 1) -> tuple[Space, dict[tuple, dict]]:
    """The grid that fits in ``seconds`` (at most ``max_grid`` points) and the harness's result for
    each of its points, ``workers`` at a time (the harness times one at a time on a GPU). The
    sample is evaluated first (the references and baselines are made then), a second point times
    one evaluation, and the grid is sized from that."""
    def evaluate(source: str) -> dict:
        result = harness.evaluate(problem, source)
        kept = result.model_dump(mode="json", include={"status", "reason", "failure", "device", "versions"})
        return kept | {"score": result.score, "timings": [{"shape": t.shape, "candidate_ms": t.candidate_ms,
                                                            "speedup": t.speedup} for t in result.timings]}

    started = time.monotonic()
    largest = grid_space(sample, radius, max_grid)
    by_source = {sample.source: evaluate(sample.source)}
    second = largest.source(next(p for p in grid_points(largest) if p != largest.anchor_point))
    before = time.monotonic()
    by_source[second] = evaluate(second)
    per_point = time.monotonic() - before
    left = seconds - (time.monotonic() - started)
    fits = int(left / per_point * workers) + 2 if math.isfinite(seconds) else max_grid
    space = grid_space(sample, radius, max(2, min(max_grid, fits)))
    points = {point: space.source(point) for point in grid_points(space)}
    todo = [s for s in dict.fromkeys(points.values()) if s not in by_source]
    with ThreadPoolExecutor(workers) as pool:
        by_source |= dict(zip(todo, pool.map(evaluate, todo)))
    return space, {point: by_source[source] for point, source in points.items()}


def replay(space: Space, problem: Problem, grid: dict[tuple, dict], sampler: str, seed: int, platform: str) -> list[float]:
    """Best score after each evaluation of one search from the sample; proposals outside the
    grid count as evaluations that found nothing."""
    def view(node_id: int, source: str, parent: int | None, result: dict | None) -> NodeView:
        result = result or {"status": "rejected"}
        ok = result.get("status") == "ok"
        return NodeView(node_id, parent, result.get("score", 0.0) if ok else 0.0, not ok, result.get("status", ""),
                        "tuner", source_hash(source), source, result)

    windows = {d.site.key: d.values for d in space.dimensions}
    tuner = Tuner(None if sampler == "neighbours" else OptunaSearch(sampler, windows=windows))
    rng = random.Random(seed)
    nodes = [view(1, space.anchor.source, None, grid[space.anchor_point])]
    best = [nodes[0].score]
    while len(nodes) < len(grid):
        graph = Graph(nodes)
        parent = graph.best() or nodes[0]
        proposal = tuner.propose(ExpansionContext(problem, parent, graph, platform, random.Random(rng.random())))
        if proposal.source is None:
            break
        point = space.point_of(proposal.source)
        nodes.append(view(len(nodes) + 1, proposal.source, parent.id, grid.get(point)))
        best.append(max(best[-1], nodes[-1].score))
    return best + [best[-1]] * (len(grid) - len(best))


def grid_record(name: str, space: Space, grid: dict[tuple, dict]) -> dict:
    """What the device measured for one operator: enough to replay any search anywhere."""
    return {"operator": name, "tunables": [f"{d.site.name}{list(d.values)}" for d in space.dimensions],
            "windows": [[d.site.name, d.site.index, list(d.values)] for d in space.dimensions],
            "grid_points": space.size, "grid_best": max(r["score"] for r in grid.values()),
            "sample_score": grid[space.anchor_point]["score"],
            "grid": [{"point": list(p)} | r for p, r in grid.items()], "samplers": {}}


def replay_operator(row: dict, samplers: list[str], seeds: int, platform: str) -> None:
    """Each sampler's searches over the grid ``row`` holds; their fractions go into ``row``."""
    problem = load_problem(SUITE / f"{row['operator']}.py")
    source = (SAMPLES / f"{row['operator']}.py").read_text()
    sample = NodeView(1, None, 1.0, False, "ok", "seed", source_hash(source), source)
    space = space_of(Graph([sample]), sample, 0, windows={(n, i): tuple(v) for n, i, v in row["windows"]})
    grid = {tuple(r["point"]): r for r in row["grid"]}
    if not row["grid_best"]:
        row["note"] = "no correct point in the grid"
        return
    for sampler in samplers:
        curves = [replay(space, problem, grid, sampler, seed, platform) for seed in range(seeds)]
        fractions = {}
        for budget in BUDGETS:
            at = max(1, math.ceil(budget * space.size))
            reached = [c[at - 1] / row["grid_best"] for c in curves]
            fractions[f"{budget:.0%}"] = {"evaluations": at, "median": statistics.median(reached),
                                          "worst": min(reached)}
        row["samplers"][sampler] = fractions


def markdown(report: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    lines = [f"# Tuner against the exhaustive grid ({report['platform']})", "",
             (f"Device: {report['device']} ({versions}). {report['seeds']} searches per sampler; fraction of the "
              "grid's best score reached after 10%, 25% and 50% of the grid's evaluations (median, worst). "
              "Goal: 95% of the grid's best within 25%."), "",
             "| operator | tunables | grid | sample / best | sampler | 10% | 25% | 50% |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    for op in report["operators"]:
        head = (f"| {op['operator']} | {', '.join(op['tunables'])} | {op['grid_points']} "
                f"| {op['sample_score']:.3f} / {op['grid_best']:.3f} |")
        if not op["samplers"]:
            lines.append(f"{head} - | {op.get('note', 'not replayed yet')} | | |")
        for sampler, fractions in op["samplers"].items():
            cells = " | ".join(f"{f['median']:.1%} ({f['worst']:.1%})" for f in fractions.values())
            lines.append(f"{head} {sampler} | {cells} |")
            head = "| | | | |"
    replayed = f"; searches replayed with `{report['replay_command']}`" if "replay_command" in report else ""
    lines += ["", f"Measured {report['date']} with `{report['command']}`{replayed}.", ""]
    return "\n".join(lines)


def save(report: dict, stem: Path) -> None:
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    print(markdown(report), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", default="interpreter")
    parser.add_argument("--operators", nargs="+", default=["mbdt", "map_id_transform", "wukong_fm"])
    parser.add_argument("--radius", type=int, default=1)
    parser.add_argument("--max-grid", type=int, default=27)
    parser.add_argument("--seconds", type=float, default=None, help="bound on the whole grid evaluation")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=1, help="grid points evaluated at once (timed one at a time)")
    parser.add_argument("--grid-only", action="store_true", help="measure and save the grids; replay them later")
    parser.add_argument("--replay", type=Path, help="replay the searches over a saved grid (no device needed)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    command = "python " + " ".join(sys.argv)
    can_replay = importlib.util.find_spec("optuna") is not None and not args.grid_only
    if importlib.util.find_spec("cmaes") is None and "cmaes" in args.samplers:
        args.samplers.remove("cmaes")
        print("the cmaes package is not installed here: the cmaes sampler is left out", flush=True)
    if args.replay:
        report = json.loads(args.replay.read_text())
        for row in report["operators"]:
            row["samplers"] = {}
            replay_operator(row, args.samplers, args.seeds, report["platform"])
        report |= {"seeds": args.seeds, "replay_command": command}
        save(report, args.replay.with_suffix(""))
        return
    platform = detect(args.platform)
    started = time.monotonic()
    report = {"what": "tuner search against the exhaustive grid of the sample's tunables", "platform": platform.name,
              "device": "", "versions": {}, "seeds": args.seeds, "operators": [],
              "host": {"python": host.python_version(), "machine": host.machine()},
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"tuner_vs_grid-{platform.name}"
    gpus = gpus_here()[:1] if platform.timed else []
    with Harness(platform, workers=args.workers, gpus=gpus, timeout_s=args.timeout) as harness:
        for i, name in enumerate(args.operators):
            problem = load_problem(SUITE / f"{name}.py", timeout_s=args.timeout)
            source = (SAMPLES / f"{name}.py").read_text()
            sample = NodeView(1, None, 1.0, False, "ok", "seed", source_hash(source), source)
            left = math.inf if args.seconds is None else args.seconds - (time.monotonic() - started)
            space, grid = evaluate_grid(harness, problem, sample, args.radius, args.max_grid,
                                        left / (len(args.operators) - i), args.workers)
            print(f"{name}: grid of {space.size} points in {time.monotonic() - started:.0f} s", flush=True)
            first = next(iter(grid.values()))
            report["device"] = report["device"] or first.get("device", "")
            report["versions"] = report["versions"] or first.get("versions", {})
            row = grid_record(name, space, grid)
            report["operators"].append(row)
            save(report, stem)  # the device's measurements first: a replay that fails loses nothing
            if can_replay:
                replay_operator(row, args.samplers, args.seeds, platform.name)
                save(report, stem)
    if not can_replay:
        print(f"the grids are saved; replay the searches (Optuna needed, no device) with "
              f"python benchmarks/tuner_vs_grid.py --replay {stem.with_suffix('.json')}", flush=True)


if __name__ == "__main__":
    main()
