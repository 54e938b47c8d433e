"""Per-shape winners: for each production shape, the run's fastest correct node there, against the
best PyTorch path measured beside it. A run's single best compromises across shapes; these are
what ``show``, ``best`` and ``export --per-shape`` offer beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernelevolve.eval.result import ShapeTiming
from kernelevolve.store import NodeRecord, Store


@dataclass(frozen=True)
class ShapeWinner:
    shape: str
    node_id: int | None  # the fastest node at this shape; None where no node has a timing there
    kernel_ms: float | None
    pytorch: str  # the fastest PyTorch path beside the winner ("" without timing)
    pytorch_ms: float | None
    best_node_ms: float | None  # the run's single best node at this shape

    @property
    def triton_wins(self) -> bool:
        return self.kernel_ms is not None and self.pytorch_ms is not None and self.kernel_ms < self.pytorch_ms

    @property
    def speedup(self) -> float | None:
        """The winner against the best PyTorch path (below 1: PyTorch serves this shape)."""
        return self.pytorch_ms / self.kernel_ms if self.kernel_ms and self.pytorch_ms else None

    def as_json(self) -> dict[str, Any]:
        return {"shape": self.shape, "node_id": self.node_id, "kernel_ms": self.kernel_ms, "pytorch": self.pytorch,
                "pytorch_ms": self.pytorch_ms, "best_node_ms": self.best_node_ms, "speedup": self.speedup,
                "path": "triton" if self.triton_wins else "pytorch"}


def timings_of(result: dict[str, Any]) -> dict[str, ShapeTiming]:
    return {t["shape"]: ShapeTiming.model_validate(t) for t in result.get("timings") or []}


def shape_winners(results: dict[int, dict[str, Any]], best_id: int | None) -> list[ShapeWinner]:
    """The winner of each timed shape among correct nodes' ``results`` (node id -> result);
    ties go to the lowest id. Shapes are listed in the order the results time them."""
    per_node = {node_id: timings_of(result) for node_id, result in sorted(results.items())}
    shapes = list(dict.fromkeys(shape for timings in per_node.values() for shape in timings))
    winners = []
    for shape in shapes:
        timed = [(t[shape].candidate_ms, node_id) for node_id, t in per_node.items() if shape in t]
        kernel_ms, node_id = min(timed)
        pytorch, pytorch_ms = per_node[node_id][shape].best_pytorch()
        best = per_node.get(best_id, {}).get(shape) if best_id is not None else None
        winners.append(ShapeWinner(shape, node_id, kernel_ms, pytorch, pytorch_ms,
                                   best.candidate_ms if best else None))
    return winners


def run_winners(store: Store, run_id: int) -> tuple[list[ShapeWinner], list[NodeRecord]]:
    """The run's per-shape winners among its correct nodes whose files are all there, and the
    correct nodes left out because their files are gone."""
    correct = [n for n in store.nodes(run_id) if not n.is_buggy]
    present = [n for n in correct if not n.missing_files()]
    best = store.best(run_id)
    results = {n.id: store.read_result(n) for n in present}
    return shape_winners(results, best.id if best else None), [n for n in correct if n.missing_files()]
