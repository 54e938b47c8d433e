"""Controller overhead per node beyond evaluation and proposal (target < 50 ms).

    python benchmarks/controller_overhead.py [--steps N] [--workers W]

Runs a real optimize loop (SQLite store, interpreter harness, the mechanical tuner) on a small
elementwise problem and splits its wall time into candidate evaluation (the harness), proposal
(the operator) and everything else: selection, graph loading, store writes, claims, caching —
the controller's own overhead. Writes benchmarks/results/controller_overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import sqlalchemy  # noqa: E402

from kernelevolve.config import OptimizeConfig  # noqa: E402
from kernelevolve.eval.harness import Harness  # noqa: E402
from kernelevolve.platform import InterpreterPlatform  # noqa: E402
from kernelevolve.problem import load_problem  # noqa: E402
from kernelevolve.search.optimize import assemble, execute  # noqa: E402
from kernelevolve.store import open_store  # noqa: E402

PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = ROOT / "tests" / "search" / "data" / "seed_scale_add.py"


class Timed:
    """Wraps an object's method and sums the seconds spent in it (from any thread)."""

    def __init__(self, target, method: str):
        self.seconds, self.calls, self._lock = 0.0, 0, threading.Lock()
        original = getattr(target, method)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds += time.perf_counter() - t
                    self.calls += 1

        setattr(target, method, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kernelevolve-controller-"))
    problem = load_problem(PROBLEM)
    with open_store(root=work / ".kernelevolve") as store, \
            Harness(InterpreterPlatform(), workers=args.workers, cache_dir=work / "cache") as harness:
        harness.reference_set(problem)  # references and a warm worker before the clock starts
        config = OptimizeConfig(problem=PROBLEM, seeds=[SEED], steps=args.steps, workers=args.workers,
                                platform="interpreter", run="overhead",  # no LLM: the mechanical tuner
                                search_untimed=True)  # every step, though the interpreter times nothing
        prepared = assemble(config, problem, harness, store)
        evaluate, propose = Timed(harness, "evaluate"), Timed(prepared.operator, "propose")
        t0 = time.perf_counter()
        outcome = execute(prepared)
        wall = time.perf_counter() - t0
    nodes = outcome.nodes
    # With several workers evaluations overlap: their busy time is divided by the workers in flight.
    busy = (evaluate.seconds + propose.seconds) / args.workers
    overhead_ms = max(0.0, wall - busy) / nodes * 1e3
    report = {
        "what": "controller overhead per node beyond evaluation and proposal",
        "nodes": nodes, "workers": args.workers, "wall_s": round(wall, 3),
        "evaluation_s": round(evaluate.seconds, 3), "evaluations": evaluate.calls,
        "proposal_s": round(propose.seconds, 3), "proposals": propose.calls,
        "overhead_ms_per_node": round(overhead_ms, 2), "target_ms": 50,
        "store": "SQLite (WAL)", "platform": "interpreter",
        "host": {"python": host.python_version(), "machine": host.machine(), "cpus": os.cpu_count(),
                 "sqlalchemy": sqlalchemy.__version__},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/controller_overhead.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(report, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "controller_overhead.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "controller_overhead.md").write_text(
        "# Controller overhead\n\n"
        f"{report['what']}: **{report['overhead_ms_per_node']} ms** per node (target < 50 ms), over "
        f"{nodes} nodes with {args.workers} worker(s); wall {report['wall_s']} s, of which evaluation "
        f"{report['evaluation_s']} s and proposal {report['proposal_s']} s. SQLite store, interpreter "
        f"platform, mechanical tuner; {host.machine()} with {os.cpu_count()} CPUs, Python "
        f"{host.python_version()}.\n\nMeasured {report['date']} with `{report['command']}`.\n"
    )


if __name__ == "__main__":
    main()
