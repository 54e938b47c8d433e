"""Scale-out: evaluations per minute of the local worker pool and of the Ray executor, and the
latency of step claims when several controller processes share one PostgreSQL run.

    .venv/bin/python benchmarks/scale_out.py [--evals N] [--claims N] [--postgres-url URL]

Evaluations: the N distinct kernel variants of eval_throughput.py on the interpreter (65,536
elements: most of a second each), submitted from as many threads as the executor has workers, after one warm-up
evaluation (workers started, references computed); the local pool with 1 and 2 workers, then a
local Ray instance with 1 and 2 actors.
Claims: 1 to 4 processes, started together, each claims a step (claim_slot, naming a parent) and
releases it N times, as fast as it can: the worst case, since controllers hold a claim for a whole
evaluation. Without --postgres-url a throwaway PostgreSQL cluster is started (as the tests do).
Writes benchmarks/results/scale_out.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.eval_throughput; tests.store.postgres: a throwaway PostgreSQL

import ray  # noqa: E402
import sqlalchemy  # noqa: E402
import torch  # noqa: E402
import triton  # noqa: E402

from kernelevolve.eval.harness import Harness  # noqa: E402
from kernelevolve.eval.ray_executor import RayExecutor  # noqa: E402
from kernelevolve.graph import NewNode  # noqa: E402
from kernelevolve.platform import InterpreterPlatform  # noqa: E402
from kernelevolve.problem import Problem, load_problem  # noqa: E402
from kernelevolve.store import new_owner, open_store  # noqa: E402

from benchmarks.eval_throughput import PROBLEM, variants  # noqa: E402  the same kernels, 65,536 elements

INTERPRETER = InterpreterPlatform()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=40, help="evaluations per executor setting")
    parser.add_argument("--claims", type=int, default=200, help="claim + release cycles per process")
    parser.add_argument("--postgres-url", help="a server whose role may create databases")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    return parser.parse_args()


# -- evaluations per minute --------------------------------------------------------------------------


def evaluations_per_minute(executor: Harness | RayExecutor, problem: Problem, workers: int, evals: int,
                           label: str) -> dict[str, Any]:
    warm_up, *sources = variants(evals + 1)
    with executor:
        warm = executor.evaluate(problem, warm_up)
        assert warm.correct, warm.reason
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda source: executor.evaluate(problem, source), sources))
        wall = time.perf_counter() - started
    assert all(r.correct for r in results), [r.reason for r in results if not r.correct][:1]
    return {"executor": label, "workers": workers, "evaluations": evals, "wall_s": round(wall, 3),
            "evaluations_per_minute": round(evals / wall * 60, 1),
            "median_eval_s": round(statistics.median(r.elapsed_s for r in results), 3)}


def measure_evaluations(evals: int, work: Path) -> list[dict[str, Any]]:
    (work / "scale_add.py").write_text(PROBLEM)
    problem = load_problem(work / "scale_add.py")
    cache = work / "cache"
    inherited = os.environ.get("OMP_NUM_THREADS", f"unset: torch uses {torch.get_num_threads()}")
    rows = []
    for workers, threads in ((1, None), (1, "1"), (2, None), (2, "1")):
        with threads_per_worker(threads):
            row = evaluations_per_minute(Harness(INTERPRETER, workers=workers, cache_dir=cache),
                                         problem, workers, evals, "local")
        rows.append({**row, "omp_num_threads": threads or inherited})
    os.environ["KERNELEVOLVE_CACHE"] = str(cache)  # the actors' harnesses share the references
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        for workers in (1, 2):
            row = evaluations_per_minute(RayExecutor("interpreter", workers=workers), problem, workers, evals, "ray")
            rows.append({**row, "omp_num_threads": "1: Ray sets it to the actor's CPUs"})
    finally:
        ray.shutdown()
    return rows


@contextmanager
def threads_per_worker(threads: str | None) -> Iterator[None]:
    """OMP_NUM_THREADS for the workers started inside (they inherit this environment)."""
    before = os.environ.get("OMP_NUM_THREADS")
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = threads
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


# -- claim latency on PostgreSQL ---------------------------------------------------------------------


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.store.postgres import ThrowawayPostgres, postgres_bin_dir  # what the tests start

    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL: install the postgresql package or pass --postgres-url")
    server = ThrowawayPostgres(bin_dir)
    try:
        yield server.start()
    finally:
        server.stop()


def claim_and_release(url: str, objects: str, run_id: int, parents: list[int], cycles: int, ready, go, out) -> None:
    owner = new_owner()
    samples = []
    with open_store(url, objects=Path(objects)) as store:
        ready.put(os.getpid())
        go.wait(timeout=300)
        for i in range(cycles):
            started = time.perf_counter()
            claim = store.claim_slot(run_id, owner, max_steps=1_000_000, parent_id=parents[i % len(parents)])
            store.release_claim(claim)
            samples.append((time.perf_counter() - started) * 1000)
    out.put(samples)


def claim_latency(url: str, objects: Path, processes: int, cycles: int) -> dict[str, Any]:
    with open_store(url, objects=objects) as store:
        run = store.ensure_run(f"claims-{processes}", "synthetic.py", "synthetic", "interpreter", {})
        parents = [store.add_node(run.id, NewNode(None, "seed", f"# {i}\n", {}, 1.0, False, "ok")).id
                   for i in range(8)]
    context = multiprocessing.get_context("spawn")
    ready, go, out = context.Queue(), context.Event(), context.Queue()
    workers = [context.Process(target=claim_and_release,
                               args=(url, str(objects), run.id, parents, cycles, ready, go, out))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    for _ in workers:  # every process has imported kernelevolve and opened the store
        ready.get(timeout=300)
    started = time.perf_counter()
    go.set()
    samples = sorted(s for _ in workers for s in out.get(timeout=600))
    wall = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=60)
    return {"processes": processes, "claims": len(samples),
            "median_ms": round(statistics.median(samples), 3),
            "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
            "max_ms": round(samples[-1], 3),
            "claims_per_s": round(len(samples) / wall, 1)}


def measure_claims(server_url: str, cycles: int, objects: Path) -> tuple[list[dict[str, Any]], str]:
    from tests.store.postgres import database_of_its_own

    with database_of_its_own(server_url, prefix="kernelevolve_bench") as url:
        rows = [claim_latency(url, objects / str(n), n, cycles) for n in (1, 2, 3, 4)]
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar_one()
        engine.dispose()
    return rows, version


# -- the report --------------------------------------------------------------------------------------


def machine(postgres_version: str, load_at_start: list[float]) -> dict[str, Any]:
    import psycopg

    return {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "python": platform.python_version(), "torch": torch.__version__, "triton": triton.__version__,
            "ray": ray.__version__, "sqlalchemy": sqlalchemy.__version__, "psycopg": psycopg.__version__,
            "postgresql": postgres_version}


def markdown(report: dict[str, Any]) -> str:
    info = report["machine"]
    evals = "\n".join(f"| {r['executor']} | {r['workers']} | {r['omp_num_threads']} | "
                      f"{r['evaluations_per_minute']:.1f} | {r['median_eval_s']:.3f} | "
                      f"{r['evaluations']} in {r['wall_s']:.1f} s |" for r in report["evaluations"])
    claims = "\n".join(f"| {r['processes']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['max_ms']:.2f} | "
                       f"{r['claims_per_s']:.0f} |" for r in report["claims"])
    return f"""# Scale-out

{report['date']} · {info['platform']} · {info['cpu_count']} CPUs (load average at start
{', '.join(map(str, info['load_average_at_start']))}) · Python {info['python']} · torch {info['torch']} · triton {info['triton']} · Ray {info['ray']} · SQLAlchemy {info['sqlalchemy']} ·
psycopg {info['psycopg']} · PostgreSQL {info['postgresql']}

## Evaluations per minute (interpreter)

Distinct variants of an elementwise kernel (65,536 elements), after a warm-up evaluation; one thread
per worker. On the interpreter an evaluation is CPU-bound: past the machine's cores more workers
gain nothing, and torch's intra-op threads only add overhead to the interpreter's small tensor
operations. Ray sets `OMP_NUM_THREADS` to an actor's CPUs (1), which the candidate workers inherit;
the local pool's workers inherit the caller's environment, so the local pool is measured both ways.
Other work on the machine (see the load average) takes cores from every setting.

| executor | workers | OMP_NUM_THREADS in the workers | evaluations/min | median evaluation (s) | measured |
| --- | ---: | --- | ---: | ---: | --- |
{evals}

## Step claims on PostgreSQL

`claim_slot` (naming a parent) + `release_claim`, back to back, from N processes at once on one run;
each cycle is two write transactions that take the run's row lock.

| processes | median (ms) | p95 (ms) | max (ms) | claims/s, all processes |
| ---: | ---: | ---: | ---: | ---: |
{claims}

Rerun: `{report['command']}`
"""


def main() -> None:
    args = parse_args()
    load_at_start = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews the numbers
    work = Path(tempfile.mkdtemp(prefix="kernelevolve-scale-out-"))
    evaluations = measure_evaluations(args.evals, work)
    with postgres(args.postgres_url) as server_url:
        claims, postgres_version = measure_claims(server_url, args.claims, work / "objects")
    command = [".venv/bin/python", "benchmarks/scale_out.py", *sys.argv[1:]]
    if args.postgres_url:
        command[command.index(args.postgres_url)] = sqlalchemy.engine.make_url(
            args.postgres_url).render_as_string(hide_password=True)
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(command),
        "machine": machine(postgres_version, load_at_start),
        "evaluations": evaluations,
        "claims": claims,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale_out.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "scale_out.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
