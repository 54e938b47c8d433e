"""Greedy selection: expand the best working kernels, with a small chance of a random one."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kernelevolve.config import GreedyOptions
from kernelevolve.graph import Graph
from kernelevolve.search.policies.base import Selection, drafts, fitness_key


@dataclass
class GreedyPolicy:
    """k selections go to the k best working nodes (on ties, the least expanded, then the oldest:
    on the interpreter every correct kernel scores 1.0), each replaced by a
    uniformly random working node with probability ``epsilon``. When every node is buggy, the
    most recent failures are chosen so that the operator repairs them."""

    epsilon: float = GreedyOptions().epsilon
    name: str = field(default="greedy", init=False, repr=False)

    def __post_init__(self) -> None:
        GreedyOptions(epsilon=self.epsilon)  # the bounds config.py gives the knob

    def select(self, graph: Graph, k: int, rng: random.Random) -> list[Selection]:
        if not graph:
            return drafts(k)
        ranked = sorted(graph.nodes.values(), key=fitness_key, reverse=True)
        working = sorted(
            (n for n in ranked if not n.is_buggy),
            key=lambda n: (-n.score, len(graph.children(n.id)), n.id),
        )
        if not working:
            return [Selection(ranked[i % len(ranked)]) for i in range(k)]
        picks: list[Selection] = []
        exploited = 0
        for _ in range(k):
            if rng.random() < self.epsilon:
                picks.append(Selection(rng.choice(working)))
            else:
                picks.append(Selection(working[exploited % len(working)]))
                exploited += 1
        return picks
