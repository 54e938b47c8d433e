"""How the store scales: insert rate and tree-query latency on a 100k-node run in a fresh SQLite store.

The tree is shaped like a search: 95% of candidates extend one of the 16 latest nodes (deep chains,
as greedy and MCTS grow them), the rest branch from any earlier node, 0.1% start a new root. Every node is
recorded with its files (kernel.py, result.json, overview.md), as a run records them.

Run from the repository root, with kernelevolve installed (``make venv``):

    .venv/bin/python benchmarks/store_scale.py

Writes benchmarks/results/store_scale.json and store_scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy

from kernelevolve.graph import NewNode
from kernelevolve.store import Store, new_owner, open_store

LINEAGE_TARGET_MS = 100.0
SOURCE = "import triton\nimport triton.language as tl\n\n@triton.jit\ndef kernel(x_ptr, n):\n    pass\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000, help="nodes inserted in bulk")
    parser.add_argument("--batch", type=int, default=2_000, help="nodes per add_nodes_bulk call")
    parser.add_argument("--add-node-count", type=int, default=2_000, help="nodes inserted one by one")
    parser.add_argument("--queries", type=int, default=200, help="queries per latency measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    return parser.parse_args()


def pick_parents(count: int, rng: random.Random) -> list[int | None]:
    """Parent index (into the same list) of each node: a search-shaped random tree."""
    parents: list[int | None] = []
    for k in range(count):
        draw = rng.random()
        if k == 0 or draw < 0.001:
            parents.append(None)
        elif draw < 0.95:
            parents.append(rng.randrange(max(0, k - 16), k))
        else:
            parents.append(rng.randrange(k))
    return parents


def depths_of(parents: list[int | None]) -> list[int]:
    depths: list[int] = []
    for parent in parents:
        depths.append(0 if parent is None else depths[parent] + 1)
    return depths


def synthetic_node(node_id: int, parent_id: int | None, rng: random.Random) -> NewNode:
    buggy = rng.random() < 0.3
    score = 0.0 if buggy else round(rng.lognormvariate(0.0, 0.4), 4)
    return NewNode(
        id=node_id, parent_id=parent_id, operator=rng.choice(["llm", "tuner"]),
        source=f"{SOURCE}# variant {node_id}\n",
        result={"status": "mismatch" if buggy else "ok", "correct": not buggy, "speedup": score},
        score=score, is_buggy=buggy, status="mismatch" if buggy else "ok",
        metrics={"candidate_ms": round(rng.uniform(0.01, 2.0), 4)}, tags={"island": node_id % 4},
        overview=f"node {node_id}: score {score}\n",
    )


def insert_bulk(store: Store, run_id: int, parents: list[int | None], batch: int,
                rng: random.Random) -> tuple[list[int], float]:
    """Record the tree in batches; return the node ids (by index) and the seconds it took."""
    ids: list[int] = []
    started = time.perf_counter()
    for start in range(0, len(parents), batch):
        reserved = store.reserve_node_ids(min(batch, len(parents) - start))
        ids.extend(reserved)
        chunk = []
        for k, node_id in enumerate(reserved, start):
            parent = parents[k]
            chunk.append(synthetic_node(node_id, None if parent is None else ids[parent], rng))
        store.add_nodes_bulk(run_id, chunk)
    return ids, time.perf_counter() - started


def insert_one_by_one(store: Store, run_id: int, count: int, rng: random.Random) -> float:
    """Seconds to record ``count`` nodes with add_node, each with its own claim, as a run does."""
    owner = new_owner()
    recorded: list[int] = []
    started = time.perf_counter()
    for n in range(count):  # each its own source: a child twin of its parent would be refused
        claim = store.claim_slot(run_id, owner, max_steps=count)
        parent = rng.choice(recorded) if recorded and rng.random() > 0.01 else None
        added = store.add_node(run_id, replace(synthetic_node(n, parent, rng), id=None), claim_id=claim)
        recorded.append(added.id)
    return time.perf_counter() - started


def latency_ms(query: Callable[[], Any], repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        query()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 3),
        "max_ms": round(samples[-1], 3),
        "queries": repeats,
    }


def measure_queries(store: Store, run_id: int, ids: list[int], parents: list[int | None],
                    depths: list[int], repeats: int, rng: random.Random) -> dict[str, Any]:
    deepest = sorted(range(len(ids)), key=depths.__getitem__)[-max(1, len(ids) // 100):]
    targets = iter([rng.choice(deepest) for _ in range(repeats)])

    def lineage_of_a_deep_node() -> None:
        k = next(targets)
        assert len(store.lineage(ids[k])) == depths[k] + 1

    sizes = [1] * len(ids)
    for k in reversed(range(len(ids))):  # children come after their parent
        parent = parents[k]
        if parent is not None:
            sizes[parent] += sizes[k]
    inner = [k for k in range(len(ids)) if sizes[k] > 1 and depths[k] >= statistics.median(depths)]
    subtree_targets = iter([rng.choice(inner) for _ in range(repeats)])
    subtree_sizes: list[int] = []
    biggest_root = max((k for k, p in enumerate(parents) if p is None), key=sizes.__getitem__)
    return {
        "lineage_deep_node": {
            **latency_ms(lineage_of_a_deep_node, repeats),
            "depth_min": min(depths[k] for k in deepest),
            "depth_max": max(depths),
        },
        "subtree_inner_node": {
            **latency_ms(lambda: subtree_sizes.append(len(store.subtree(ids[next(subtree_targets)]))),
                         repeats),
            "median_rows": statistics.median(subtree_sizes),
        },
        "subtree_whole_tree": {
            **latency_ms(lambda: subtree_sizes.append(len(store.subtree(ids[biggest_root]))), 3),
            "rows": subtree_sizes[-1],
        },
        "best": latency_ms(lambda: store.best(run_id), 20),
        "count_nodes": latency_ms(lambda: store.count_nodes(run_id), 20),
        "nodes_whole_run": {**latency_ms(lambda: store.nodes(run_id), 3), "rows": len(ids)},
    }


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version,
    }


def markdown(report: dict[str, Any]) -> str:
    q, ins = report["queries"], report["inserts"]
    rows = [
        ("bulk insert (add_nodes_bulk, files included)", f"{ins['bulk_nodes_per_s']:,.0f} nodes/s",
         f"{ins['bulk_nodes']:,} nodes, batches of {ins['batch']}, {ins['bulk_seconds']:.1f} s"),
        ("add_node with claim (one by one)", f"{ins['add_node_nodes_per_s']:,.0f} nodes/s",
         f"{ins['add_node_nodes']:,} nodes, {ins['add_node_seconds']:.1f} s"),
    ]
    for name, label in [("lineage_deep_node", "lineage of a deep node"),
                        ("subtree_inner_node", "subtree of an inner node"),
                        ("subtree_whole_tree", "subtree of the largest root"),
                        ("best", "best(run)"), ("count_nodes", "count_nodes(run)"),
                        ("nodes_whole_run", "nodes(run)")]:
        m = q[name]
        extra = {k: v for k, v in m.items() if k not in ("median_ms", "p95_ms", "max_ms")}
        rows.append((label, f"{m['median_ms']:.2f} ms median", f"p95 {m['p95_ms']:.2f} ms; " +
                     ", ".join(f"{k} {v}" for k, v in extra.items())))
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    verdict = "met" if report["lineage_target_met"] else "NOT met"
    info, tree = report["machine"], report["tree"]
    return f"""# Store scale: {report['inserts']['bulk_nodes']:,} nodes in SQLite

{report['date']} · {info['platform']} · {info['cpu_count']} CPUs · Python {info['python']} ·
SQLAlchemy {info['sqlalchemy']} · SQLite {info['sqlite']}

Lineage target (< {LINEAGE_TARGET_MS:.0f} ms median for deep nodes): **{verdict}**.
Tree: depth max {tree['depth_max']}, mean {tree['depth_mean']:.1f}; {tree['roots']} roots.

| what | rate / latency | detail |
| --- | --- | --- |
{table}

Rerun: `{report['command']}`
"""


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    parents = pick_parents(args.nodes, rng)
    depths = depths_of(parents)
    with tempfile.TemporaryDirectory(prefix="kernelevolve-store-scale-") as folder:
        store = open_store(root=Path(folder))
        try:
            bulk_run = store.ensure_run("scale-bulk", "synthetic.py", "synthetic", "interpreter", {})
            ids, bulk_s = insert_bulk(store, bulk_run.id, parents, args.batch, rng)
            queries = measure_queries(store, bulk_run.id, ids, parents, depths, args.queries, rng)
            one_run = store.ensure_run("scale-one", "synthetic.py", "synthetic", "interpreter", {})
            one_s = insert_one_by_one(store, one_run.id, args.add_node_count, rng)
        finally:
            store.close()
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([".venv/bin/python", "benchmarks/store_scale.py", *sys.argv[1:]]),
        "machine": machine(),
        "tree": {"depth_max": max(depths), "depth_mean": statistics.fmean(depths),
                 "roots": sum(p is None for p in parents)},
        "inserts": {
            "bulk_nodes": args.nodes, "batch": args.batch, "bulk_seconds": round(bulk_s, 3),
            "bulk_nodes_per_s": round(args.nodes / bulk_s, 1),
            "add_node_nodes": args.add_node_count, "add_node_seconds": round(one_s, 3),
            "add_node_nodes_per_s": round(args.add_node_count / one_s, 1),
        },
        "queries": queries,
        "lineage_target_ms": LINEAGE_TARGET_MS,
        "lineage_target_met": queries["lineage_deep_node"]["median_ms"] < LINEAGE_TARGET_MS,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "store_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "store_scale.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
