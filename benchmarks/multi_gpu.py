"""Candidates per minute against the number of GPUs of one host.

    python benchmarks/multi_gpu.py [--only mbdt] [--steps 120] [--seconds 120] [--per-gpu 4]

For n = 1, 2, ... all visible GPUs, one tuner search per operator with ``--per-gpu`` candidate
workers on each of the first n GPUs (each worker sees its own GPU; each GPU times one candidate at
a time), as ``benchmarks/search_throughput.py`` runs it. The scaling is the rate on n GPUs over the
rate on one, measured in this run (the goal: at least 1.8x on 2 GPUs).

Writes benchmarks/results/multi_gpu-<platform>.{json,md} after every measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_throughput import ROOT, SUITE, environment, heading, search  # noqa: E402

from kernelevolve.eval.placement import gpus_here  # noqa: E402
from kernelevolve.platform import detect  # noqa: E402


def markdown(report: dict) -> str:
    lines = [*heading(report, "Candidates per minute against GPUs"),
             "| operator | GPUs | workers | candidates | search s | per minute | scaling vs 1 GPU |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        rate = r["candidates"] / (r["search_s"] / 60) if r["search_s"] else None
        one = next((o for o in report["rows"] if o["operator"] == r["operator"] and o["gpus"] == 1), None)
        base = one["candidates"] / (one["search_s"] / 60) if one and one["search_s"] else None
        scaling = f"{rate / base:.2f}x" if rate and base else "—"
        lines.append(f"| {r['operator']} | {r['gpus']} | {r['workers']} | {r['candidates']} | {r['search_s']} | "
                     f"{rate:.1f} | {scaling} |" if rate else f"| {r['operator']} | {r['gpus']} | {r['workers']} | "
                     f"{r['candidates']} | {r['search_s']} | — | — |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--platform", default="cuda")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--per-gpu", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    platform = detect(args.platform)
    gpus = gpus_here() if platform.timed else []
    if len(gpus) < 2:
        sys.exit(f"multi_gpu.py measures scaling over several GPUs; this machine shows {len(gpus)}")
    report = environment(platform, sys.argv)
    report["gpus_visible"] = len(gpus)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"multi_gpu-{platform.name}"
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or ["mbdt"]:
            for n in range(1, len(gpus) + 1):
                row = search(SUITE / f"{name}.py", platform, args.per_gpu * n, args.steps, args.seconds, 1.5,
                             Path(tmp), gpus=gpus[:n])
                report["rows"].append(row)
                print(json.dumps(row), flush=True)
                stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
                stem.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
