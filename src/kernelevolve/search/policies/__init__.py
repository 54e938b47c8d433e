"""Selection policies: which nodes of the search graph to expand next (greedy, mcts, evolve)."""

from __future__ import annotations

from typing import Any

from kernelevolve.search.policies.base import Policy, Selection
from kernelevolve.search.policies.evolve import EvolvePolicy
from kernelevolve.search.policies.greedy import GreedyPolicy
from kernelevolve.search.policies.mcts import MCTSPolicy

POLICIES: dict[str, type] = {"greedy": GreedyPolicy, "mcts": MCTSPolicy, "evolve": EvolvePolicy}

__all__ = ["POLICIES", "EvolvePolicy", "GreedyPolicy", "MCTSPolicy", "Policy", "Selection", "make_policy"]


def make_policy(name: str, **options: Any) -> Policy:
    """The policy called ``name``, built with ``options`` (its dataclass fields)."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of: {', '.join(POLICIES)}")
    return POLICIES[name](**options)
