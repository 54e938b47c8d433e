"""The search graph's plain data, at the bottom of the package: a node's status vocabulary, the
hash its source is known by, the node the store is handed (``NewNode``) and the node every
other part reads (``NodeView``), an expansion under way (``Pending``), the ``Graph`` of a run's
nodes and the rule that names its best.

Store, search, operators and the CLI import these; this module imports none of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """A node's status: the harness's verdict on its candidate, or ``no_candidate`` for an
    expansion that produced no kernel source (nothing was evaluated; never a verdict)."""

    ok = "ok"
    syntax_error = "syntax_error"
    compile_error = "compile_error"
    runtime_error = "runtime_error"
    mismatch = "mismatch"
    timeout = "timeout"
    crash = "crash"
    rejected = "rejected"
    no_candidate = "no_candidate"


VERDICTS = tuple(s for s in Status if s is not Status.no_candidate)  # what an evaluation can say


def source_hash(source: str) -> str:
    """The hash a kernel source is known by (stored, deduplicated, cached): SHA-256 of its UTF-8 text."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NodeView:
    """One evaluated kernel candidate."""

    id: int
    parent_id: int | None
    score: float  # fitness: speedup over torch.compile (1.0 where timing means nothing); 0 if buggy
    is_buggy: bool
    status: str  # a Status value
    operator: str
    source_hash: str
    source: str = ""
    result: dict[str, Any] = field(default_factory=dict)  # EvalResult.model_dump(mode="json")
    tags: dict[str, Any] = field(default_factory=dict)  # what the policy attached (e.g. island)


@dataclass(frozen=True)
class NewNode:
    """A node to record (``Store.add_node``, ``Store.add_nodes_bulk``): what the store is handed.

    ``id`` None: ``add_node`` reserves one; ``add_nodes_bulk`` takes ids from ``Store.reserve_node_ids``.
    """

    parent_id: int | None
    operator: str
    source: str
    result: dict[str, Any]
    score: float
    is_buggy: bool
    status: str  # a Status value
    metrics: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    overview: str = ""
    objects: dict[str, str] = field(default_factory=dict)  # extra named files: prompt.md, reply.md …
    id: int | None = None


@dataclass(frozen=True)
class Pending:
    """An expansion under way: its parent is chosen and its child not yet recorded. ``tags``: what
    the child will carry (a policy's choices, e.g. its island)."""

    parent_id: int | None
    tags: dict[str, Any] = field(default_factory=dict)


def best(nodes: Iterable[NodeView]) -> NodeView | None:
    """The run's best node: the highest score among working (non-buggy) nodes, ties to the oldest
    (lowest id). ``Store.best`` asks the database the same in SQL (``store.store.BEST_FIRST``)."""
    return max((n for n in nodes if not n.is_buggy), key=lambda n: (n.score, -n.id), default=None)


class Graph:
    """Nodes of one run, indexed by id and by parent, and the expansions under way beside them."""

    def __init__(self, nodes: list[NodeView], pending: Sequence[Pending] = (), whole: Graph | None = None):
        self.nodes: dict[int, NodeView] = {n.id: n for n in nodes}
        self.pending = tuple(pending)
        self.whole = self if whole is None else whole  # the run's graph a view was cut from
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
        return best(self.nodes.values())

    def source_hashes(self) -> set[str]:
        return {n.source_hash for n in self.nodes.values()}
