"""The search graph as the policies and operators see it: plain, in-memory, read-only nodes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeView:
    """One evaluated kernel candidate."""

    id: int
    parent_id: int | None
    score: float  # fitness: speedup over torch.compile (1.0 where timing means nothing); 0 if buggy
    is_buggy: bool
    status: str
    operator: str
    source_hash: str
    source: str = ""
    result: dict[str, Any] = field(default_factory=dict)  # EvalResult.model_dump(mode="json")
    tags: dict[str, Any] = field(default_factory=dict)  # what the policy attached (e.g. island)


class Graph:
    """Nodes of one run, indexed by id and by parent."""

    def __init__(self, nodes: list[NodeView]):
        self.nodes: dict[int, NodeView] = {n.id: n for n in nodes}
        self._children: dict[int | None, list[int]] = {}
        for n in nodes:
            self._children.setdefault(n.parent_id, []).append(n.id)

    def __len__(self) -> int:
        return len(self.nodes)

    def roots(self) -> list[NodeView]:
        return [self.nodes[i] for i in self._children.get(None, [])]

    def children(self, node_id: int) -> list[NodeView]:
        return [self.nodes[i] for i in self._children.get(node_id, [])]

    def parent(self, node_id: int) -> NodeView | None:
        pid = self.nodes[node_id].parent_id
        return None if pid is None else self.nodes.get(pid)

    def lineage(self, node_id: int) -> list[NodeView]:
        """Root first, ending at node_id."""
        chain: list[NodeView] = []
        current: NodeView | None = self.nodes[node_id]
        while current is not None:
            chain.append(current)
            current = self.parent(current.id)
        return chain[::-1]

    def subtree(self, node_id: int) -> list[NodeView]:
        """node_id and everything below it, parents before children (iterative: lineages run deep)."""
        order = [self.nodes[node_id]]
        for node in order:
            order.extend(self.children(node.id))
        return order

    def best(self) -> NodeView | None:
        good = [n for n in self.nodes.values() if not n.is_buggy]
        return max(good, key=lambda n: (n.score, -n.id), default=None)

    def source_hashes(self) -> set[str]:
        return {n.source_hash for n in self.nodes.values()}
