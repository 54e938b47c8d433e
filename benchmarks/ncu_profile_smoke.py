"""One command to check ``--profile`` on a GPU: a suite sample kernel evaluated with an Nsight
Compute profile under each sandbox mode, and what the diagnosis makes of it.

    PYTHONPATH=src python benchmarks/ncu_profile_smoke.py [--problem suites/recsys/rmsnorm_backward.py]
        [--kernel src/kernelevolve/knowledge/base/samples/recsys/rmsnorm_backward.py] [--sandbox off best-effort]

Prints, per sandbox mode: the verdict, the profile's summary (or ncu's one-line reason for none),
its seconds, the launches it measured, and the diagnosis's bottleneck hypothesis. Exit 1 when no
mode produced a profile with DRAM throughput and achieved occupancy.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelevolve.eval.harness import Harness  # noqa: E402
from kernelevolve.eval.ncu import ncu_path  # noqa: E402
from kernelevolve.graph import Graph, NodeView  # noqa: E402
from kernelevolve.operators.base import ExpansionContext  # noqa: E402
from kernelevolve.operators.context import diagnose  # noqa: E402
from kernelevolve.platform import detect  # noqa: E402
from kernelevolve.problem import load_problem  # noqa: E402

SAMPLES = ROOT / "src" / "kernelevolve" / "knowledge" / "base" / "samples" / "recsys"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", type=Path, default=ROOT / "suites" / "recsys" / "rmsnorm_backward.py")
    parser.add_argument("--kernel", type=Path, default=SAMPLES / "rmsnorm_backward.py")
    parser.add_argument("--sandbox", nargs="+", default=["off", "best-effort"])
    args = parser.parse_args()
    print(f"ncu: {ncu_path() or 'not on PATH'}")
    platform = detect("cuda")
    problem = load_problem(args.problem)
    measured = False
    with tempfile.TemporaryDirectory() as cache:
        for sandbox in args.sandbox:
            with Harness(platform, cache_dir=Path(cache), sandbox=sandbox, profile=True) as harness:
                if harness.profile_unavailable:
                    print(harness.profile_unavailable)
                    return 1
                result = harness.evaluate(problem, args.kernel.read_text())
            print(f"\n== sandbox {sandbox}: {result.status.value}, speedup {result.speedup}; {result.sandbox}")
            profile = result.ncu
            if profile is None:
                print("no profile (the kernel is not correct)")
                continue
            print(f"{profile.summary()} ({profile.seconds} s)")
            for k in profile.kernels:
                print(f"  {k.model_dump_json()}")
            node = NodeView(id=1, parent_id=None, score=result.score, is_buggy=False, status="ok", operator="seed",
                            source_hash=result.source_hash, result=result.model_dump(mode="json"))
            d = diagnose(ExpansionContext(problem, node, Graph([node]), platform, random.Random(0)))
            print(f"hypothesis: {d.performance.hypothesis()}")
            main_kernel = profile.main
            measured |= bool(main_kernel and main_kernel.dram_throughput is not None
                             and main_kernel.achieved_occupancy is not None)
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
