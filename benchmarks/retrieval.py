"""Does retrieval find the documents a problem needs? recall@k of the knowledge retrieved for a
problem itself (goal: recall@5 of at least 0.9).

    python benchmarks/retrieval.py [--k 5] [--platform cuda]

For every problem of suites/recsys, the bundled example, the operator tests' problems and the
held-out problems under benchmarks/retrieval_problems/ (written for this benchmark, in the styles a
user brings: a fused GEMM, a normalisation, a jagged reduction, a jagged softmax, a scan, attention scores, a
bucketing), the documents a person would hand a kernel author are listed below; the benchmark asks
the universal operator's problem query (name, shape parameters, called and traced operators,
platform) for the top k and counts how many of them came back. Writes
benchmarks/results/retrieval.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelevolve.knowledge import KnowledgeBase
from kernelevolve.operators.universal import problem_query, reference_operators
from kernelevolve.platform import Platform, named
from kernelevolve.problem import load_problem
from kernelevolve.reference import describe_reference, reference_aten_ops

GOAL = 0.9
SUITE, HELD_OUT, OPS = ROOT / "suites" / "recsys", ROOT / "benchmarks" / "retrieval_problems", ROOT / "tests" / "operators" / "data"
EXPECTED: dict[Path, list[str]] = {  # problem file: the documents it needs
    **{SUITE / f"{name}.py": [f"samples/recsys/{name}.py"] for name in (
        "batch_event_truncate", "conv1d", "interformer_pffn", "map_id_transform", "mbdt", "rmsnorm_backward",
        "wukong_fm")},
    SUITE / "batch_event_truncate.py": ["samples/recsys/batch_event_truncate.py", "guidance/jagged-tensors.md"],
    SUITE / "mbdt.py": ["samples/recsys/mbdt.py", "guidance/scans-and-search.md"],
    ROOT / "examples" / "softmax" / "problem.py": ["samples/row_softmax.py", "guidance/reductions.md"],
    OPS / "gelu_problem.py": ["samples/bias_gelu.py"],
    OPS / "softmax_problem.py": ["samples/row_softmax.py"],
    HELD_OUT / "gemm_gelu.py": ["samples/matmul.py", "guidance/matmul.md"],
    HELD_OUT / "layer_norm.py": ["guidance/reductions.md"],
    HELD_OUT / "jagged_segment_sum.py": ["guidance/jagged-tensors.md"],
    HELD_OUT / "jagged_softmax.py": ["samples/jagged_softmax.py", "guidance/jagged-tensors.md"],
    HELD_OUT / "running_total.py": ["guidance/scans-and-search.md"],
    HELD_OUT / "attention_scores.py": ["guidance/matmul.md", "samples/row_softmax.py"],
    HELD_OUT / "bucketize_ids.py": ["guidance/scans-and-search.md"],
}


def retrieved(kb: KnowledgeBase, path: Path, platform: Platform, k: int) -> list[str]:
    problem = load_problem(path)
    facts = describe_reference(problem)
    operators = list(dict.fromkeys([*reference_operators(facts.model_source), *reference_aten_ops(problem)]))
    return [d.path for d in kb.search(problem_query(problem, operators, platform), platform, k=k)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--platform", default="cuda", choices=("cuda", "rocm", "interpreter"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    kb = KnowledgeBase.load()
    rows = []
    for path, expected in EXPECTED.items():
        top = retrieved(kb, path, named(args.platform)(), args.k)
        found = [doc for doc in expected if doc in top]
        rows.append({"problem": str(path.relative_to(ROOT)), "expected": expected, "retrieved": top,
                     "recall": round(len(found) / len(expected), 3)})
    recall = round(statistics.mean(r["recall"] for r in rows), 3)
    report = {
        "what": f"mean recall@{args.k} of the documents each problem needs, from the problem's own query",
        "k": args.k, "platform": args.platform, "recall": recall, "goal": GOAL, "problems": rows,
        "host": {"python": host.python_version(), "machine": host.machine(), "cpus": os.cpu_count()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/retrieval.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(report, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval.json").write_text(json.dumps(report, indent=2) + "\n")
    table = "\n".join(f"| `{r['problem']}` | {', '.join(f'`{d}`' for d in r['expected'])} | {r['recall']:.2f} |"
                      for r in rows)
    (args.out / "retrieval.md").write_text(
        f"# Retrieval recall@{args.k}\n\n{report['what']}: **{recall:.2f}** over {len(rows)} problems "
        f"(goal {GOAL}), platform {args.platform}.\n\n| problem | expected | recall |\n| --- | --- | ---: |\n"
        f"{table}\n\n{host.machine()} with {os.cpu_count()} CPUs, Python {host.python_version()}; measured "
        f"{report['date']} with `{report['command']}`.\n"
    )


if __name__ == "__main__":
    main()
