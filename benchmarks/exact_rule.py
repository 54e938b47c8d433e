"""Why the float64 rule allows twice PyTorch's own error: how candidates of known quality fare under
slack multiples 1-4, judged by the harness's own comparison (eval/compare.py).

    python benchmarks/exact_rule.py [--seeds 12]

The reference is PyTorch-like at its worst: row sums of 2048 float16 normals, rounded to float16
after each addition, 64 rows per seed. Each candidate is judged against it and against the float64
sum, as the harness judges a float16 output. Writes benchmarks/results/exact_rule.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform as host
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelevolve.eval.compare import EXACT_SLACK, compare  # noqa: E402
from kernelevolve.problem import DEFAULT_TOLERANCES  # noqa: E402

ROWS, TERMS, CHUNK = 64, 2048, 64
SLACKS = (1.0, 2.0, 3.0, 4.0)


def rounded_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum along the last dimension in float16, rounding after every addition."""
    total = torch.zeros(x.shape[:-1], dtype=torch.float16)
    for j in range(x.shape[-1]):
        total = total + x[..., j]
    return total


CANDIDATES = {
    "float32 accumulation, one rounding (correct, more accurate)": lambda x: x.float().sum(-1).half(),
    f"float16 partial sums of {CHUNK}, then their float16 sum (PyTorch's precision)":
        lambda x: rounded_sum(rounded_sum(x.reshape(ROWS, TERMS // CHUNK, CHUNK))),
    f"drops the last of {TERMS} terms": lambda x: x[:, :-1].float().sum(-1).half(),
    "3% too large": lambda x: (x.float().sum(-1) * 1.03).half(),
    "1% too large (already within float16's rtol of 1e-2)": lambda x: (x.float().sum(-1) * 1.01).half(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    tolerance = lambda dtype: DEFAULT_TOLERANCES[dtype]  # noqa: E731 (the harness's float16 tolerances)
    passes = {name: {slack: 0 for slack in SLACKS} for name in CANDIDATES}
    reference_errors, largest_sum = [], 0.0
    for seed in range(args.seeds):
        x = torch.randn(ROWS, TERMS, generator=torch.Generator().manual_seed(seed)).half()
        ref, exact = rounded_sum(x), x.double().sum(-1)
        reference_errors.append(float((ref.double() - exact).abs().max()))
        largest_sum = max(largest_sum, float(exact.abs().max()))
        for name, candidate in CANDIDATES.items():
            out = candidate(x)
            for slack in SLACKS:
                passes[name][slack] += compare([out], [ref], tolerance, [exact], slack) is None
    report = {
        "what": "candidates passing the float64 rule at each slack multiple of PyTorch's own error",
        "seeds": args.seeds, "rows_per_seed": ROWS, "terms": TERMS, "slack_in_use": EXACT_SLACK,
        "tolerance_float16": DEFAULT_TOLERANCES["float16"],
        "reference_max_error_per_seed": [round(e, 3) for e in reference_errors],
        "largest_exact_sum": round(largest_sum, 1),
        "passes": {name: {f"{slack:g}x": n for slack, n in by.items()} for name, by in passes.items()},
        "versions": {"python": host.python_version(), "torch": torch.__version__},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python benchmarks/exact_rule.py", *sys.argv[1:]]),
    }
    print(json.dumps(report, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "exact_rule.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "exact_rule.md").write_text(markdown(report))


def markdown(r: dict) -> str:
    slacks = list(next(iter(r["passes"].values())))
    rows = "".join(f"| {name} | " + " | ".join(f"{n}/{r['seeds']}" for n in by.values()) + " |\n"
                   for name, by in r["passes"].items())
    errors = r["reference_max_error_per_seed"]
    return (
        f"# The float64 rule's slack\n\n{r['what']} (the harness uses {r['slack_in_use']:g}x).\n\n"
        f"Row sums of {r['terms']} float16 normals, rounded to float16 after each addition, "
        f"{r['rows_per_seed']} rows per seed, {r['seeds']} seeds; PyTorch-like reference's largest error per "
        f"seed {min(errors):g} to {max(errors):g}, on sums up to about {r['largest_exact_sum']:g}; float16 "
        f"tolerance (atol, rtol) {tuple(r['tolerance_float16'])}.\n\n"
        "| candidate | " + " | ".join(f"passes with {s}" for s in slacks) + " |\n"
        "| --- | " + " | ".join("---" for _ in slacks) + " |\n" + rows +
        f"\nVersions: {', '.join(f'{k} {v}' for k, v in r['versions'].items())}. "
        f"Measured {r['date']} with `{r['command']}`.\n"
    )


if __name__ == "__main__":
    main()
