"""What a selection policy returns, the interface every policy implements, and the ranking they share."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from kernelevolve.graph import Graph, NodeView


@dataclass(frozen=True)
class Selection:
    """A node to expand next, and the tags its child will carry (e.g. ``{"island": 2}``).

    ``parent is None`` asks for a first kernel drafted from the problem alone; policies only
    return that for an empty graph.
    """

    parent: NodeView | None
    tags: dict[str, Any] = field(default_factory=dict)


class Policy(Protocol):
    name: str

    def select(self, graph: Graph, k: int, rng: random.Random) -> list[Selection]: ...


def fitness_key(node: NodeView) -> tuple[bool, float, int]:
    """Sort key, larger is better: working before buggy, then by score.

    Ties go to the oldest working node (as ``Graph.best``) but to the newest buggy one, which
    is the failure worth repairing.
    """
    return (not node.is_buggy, node.score, node.id if node.is_buggy else -node.id)


def normalized_scores(graph: Graph) -> dict[int, float]:
    """Each node's score divided by the best score in the graph: 1.0 for the best, 0.0 for buggy."""
    top = max((n.score for n in graph.nodes.values() if not n.is_buggy), default=0.0)
    return {n.id: (n.score / top if top > 0 and not n.is_buggy else 0.0) for n in graph.nodes.values()}


def drafts(k: int, tags: list[dict[str, Any]] | None = None) -> list[Selection]:
    """k requests for a kernel written from scratch (the graph is empty)."""
    tags = tags or [{} for _ in range(k)]
    return [Selection(None, dict(t)) for t in tags]


def breadth_first(graph: Graph) -> list[NodeView]:
    """Every node reachable from a root, parents before children."""
    return [node for root in graph.roots() for node in graph.subtree(root.id)]
