"""What a selection policy returns, the interface every policy implements, the view of the graph
every policy is given (``choose``), and the ranking they share."""

from __future__ import annotations

import random
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from kernelevolve.graph import Graph, NodeView, Pending


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

    def select(self, graph: Graph, k: int, rng: random.Random) -> list[Selection]:
        """k nodes of ``graph`` to expand. What a policy needs to remember between calls it reads
        from the run (the tags of ``graph.whole``'s nodes and of ``graph.pending``), never from
        itself, so that a resumed or shared run selects as one uninterrupted process would."""
        ...


def choose(
    policy: Policy, graph: Graph, k: int, rng: random.Random, busy: AbstractSet[int] = frozenset(),
    exhausted: AbstractSet[int] = frozenset(), pending: Sequence[Pending] = (),
) -> list[Selection]:
    """The policy's k choices among the nodes worth expanding now (``expandable``), each parent
    returned as the node of ``graph``: the one way the search asks a policy."""
    picks = policy.select(expandable(graph, busy, exhausted, pending), k, rng)
    return [s if s.parent is None else replace(s, parent=graph.nodes[s.parent.id]) for s in picks]


def expandable(
    graph: Graph, busy: AbstractSet[int] = frozenset(), exhausted: AbstractSet[int] = frozenset(),
    pending: Sequence[Pending] = (),
) -> Graph:
    """The graph as a policy sees it. ``exhausted`` nodes (the operator found nothing new to make
    from them) are left out while any other node remains, ``busy`` ones (another expansion holds
    them) while any node neither busy nor exhausted remains; a node whose parent is left out
    becomes a root, so that tree policies still reach it. ``pending`` (the expansions under way)
    comes along, each below its parent or, where that is left out, its nearest ancestor in view."""
    for avoid in (set(exhausted) | set(busy), set(exhausted)):
        keep = [v for v in graph.nodes.values() if v.id not in avoid]
        if keep:
            break
    else:
        keep = list(graph.nodes.values())
    kept = {v.id for v in keep}
    nodes = [v if v.parent_id is None or v.parent_id in kept else replace(v, parent_id=None) for v in keep]
    return Graph(nodes, [replace(p, parent_id=_in_view(graph, p.parent_id, kept)) for p in pending], whole=graph)


def _in_view(graph: Graph, node_id: int | None, kept: set[int]) -> int | None:
    while node_id is not None and node_id not in kept:
        node_id = graph.nodes[node_id].parent_id if node_id in graph.nodes else None
    return node_id


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
