"""MCTS selection: UCT over the search tree, where any node may be expanded again.

A node's value is the best normalized score in its subtree (the maximum, not the mean: one fast
kernel makes a branch worth refining however many failed attempts surround it), and its visit
count is the size of that subtree. The walk starts at a virtual root whose children are the
graph's roots; at each node it either stops there ("stay", valued by the node's own score and
visited once per expansion so far) or descends into a child, whichever has the larger
UCT = value + c * sqrt(ln(parent visits) / visits). Several selections diversify through virtual
loss: each pending selection (made earlier in the same call, or an expansion under way in
``graph.pending``) counts as a visit that scored zero.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field

from kernelevolve.config import MCTSOptions
from kernelevolve.graph import Graph, NodeView
from kernelevolve.search.policies.base import Selection, breadth_first, drafts, normalized_scores


@dataclass(frozen=True)
class _Option:
    """One move of the walk: stay at ``node`` (expand it) or descend into it."""

    node: NodeView
    stay: bool
    uct: float
    best_id: int  # the node that gives the value: ties go to the oldest


@dataclass
class _TreeStats:
    """Subtree sizes and best normalized scores, plus the pending (virtual) visits."""

    own: dict[int, float]
    size: dict[int, int]
    best: dict[int, tuple[float, int]]  # (value, -id of the node holding it)
    pending: Counter = field(default_factory=Counter)  # walks through a node; key None: the root
    pending_stays: Counter = field(default_factory=Counter)


def _tree_stats(graph: Graph) -> _TreeStats:
    own = normalized_scores(graph)
    size = {i: 1 for i in graph.nodes}
    best = {i: (own[i], -i) for i in graph.nodes}
    for node in reversed(breadth_first(graph)):
        if node.parent_id in graph.nodes:
            size[node.parent_id] += size[node.id]
            best[node.parent_id] = max(best[node.parent_id], best[node.id])
    stats = _TreeStats(own, size, best)
    for expansion in graph.pending:  # the walk that chose it: through each ancestor, staying at its parent
        stats.pending[None] += 1
        if expansion.parent_id in graph.nodes:
            stats.pending.update(n.id for n in graph.lineage(expansion.parent_id))
            stats.pending_stays[expansion.parent_id] += 1
    return stats


@dataclass
class MCTSPolicy:
    """UCT walk from a virtual root; ``exploration`` is the constant c (0: pure exploitation)."""

    exploration: float = MCTSOptions().exploration
    name: str = field(default="mcts", init=False, repr=False)

    def __post_init__(self) -> None:
        MCTSOptions(exploration=self.exploration)  # the bounds config.py gives the knob

    def select(self, graph: Graph, k: int, rng: random.Random) -> list[Selection]:
        if not graph:
            return drafts(k)
        stats = _tree_stats(graph)
        return [Selection(self._walk(graph, stats)) for _ in range(k)]

    def _walk(self, graph: Graph, stats: _TreeStats) -> NodeView:
        """Descend until staying beats every child; record the path as pending visits."""
        stats.pending[None] += 1
        visits = len(graph) + stats.pending[None]
        options = [self._descend_option(c, stats, visits) for c in graph.roots()]
        while True:
            chosen = max(options, key=lambda o: (o.uct, -o.best_id))
            node = chosen.node
            stats.pending[node.id] += 1
            if chosen.stay:
                stats.pending_stays[node.id] += 1
                return node
            visits = stats.size[node.id] + stats.pending[node.id]
            options = [self._stay_option(graph, node, stats, visits)]
            options += [self._descend_option(c, stats, visits) for c in graph.children(node.id)]

    def _descend_option(self, node: NodeView, stats: _TreeStats, parent_visits: int) -> _Option:
        value, neg_id = stats.best[node.id]
        done = stats.size[node.id]
        # pending[node] already counts walks that stopped at or passed through it in this call
        return _Option(node, False, self._uct(value, done, stats.pending[node.id], parent_visits), -neg_id)

    def _stay_option(self, graph: Graph, node: NodeView, stats: _TreeStats, parent_visits: int) -> _Option:
        done = 1 + len(graph.children(node.id))
        uct = self._uct(stats.own[node.id], done, stats.pending_stays[node.id], parent_visits)
        return _Option(node, True, uct, node.id)

    def _uct(self, value: float, done: int, pending: int, parent_visits: int) -> float:
        visits = done + pending
        mean_with_losses = value * done / visits
        return mean_with_losses + self.exploration * math.sqrt(math.log(parent_visits) / visits)
