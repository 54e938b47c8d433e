"""Merge results of `kernelevolve bench` run in parts (`--only` some operators per command, as when
one device session cannot hold the whole suite) into one suite report: JSON, markdown and chart.

    python benchmarks/merge_suite_results.py benchmarks/results/recsys-cuda-parts/*.json \
        --out benchmarks/results --stem recsys-cuda --command "..."

Numbers are copied from the inputs; only the summary (geometric means) is recomputed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelevolve.bench import save, summarize  # noqa: E402


def merge(parts: list[dict], command: str) -> dict:
    first = parts[0]
    for part in parts[1:]:
        if (part["device"], part["versions"].get("torch"), part["timing_method"]) != (
            first["device"], first["versions"].get("torch"), first["timing_method"]):
            raise SystemExit("the parts were measured on different devices, versions or methods")
    shapes = [row for p in parts for row in p["shapes"]]
    copies = [p["copy_gbps"] for p in parts if p["copy_gbps"]]
    merged = dict(first)
    merged.update(
        operators=[op for p in parts for op in p["operators"]],
        shapes=shapes,
        copy_gbps=sum(copies) / len(copies) if copies else None,
        summary=summarize(shapes, [op["sample_status"] for p in parts for op in p["operators"]]),
        date=max(p["date"] for p in parts),
        command=command,
        parts=[{"operators": [op["name"] for op in p["operators"]], "command": p["command"], "date": p["date"]}
               for p in parts],
    )
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stem", required=True)
    parser.add_argument("--command", required=True, help="the command that produced the parts")
    args = parser.parse_args()
    parts = sorted((json.loads(p.read_text()) for p in args.parts), key=lambda p: p["date"])
    for path in save(merge(parts, args.command), args.out, args.stem):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
