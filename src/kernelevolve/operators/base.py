"""What every operator receives and returns: the universal (LLM) operator and the tuner alike."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from kernelevolve.graph import Graph, NodeView
from kernelevolve.platform import Platform
from kernelevolve.problem import Problem


@dataclass
class ExpansionContext:
    """Everything an operator may read to write the next candidate."""

    problem: Problem
    parent: NodeView | None  # None: draft a first kernel from the problem alone
    graph: Graph
    platform: Platform
    rng: random.Random


@dataclass
class Proposal:
    """A new kernel source (or None with the reason it could not be made)."""

    source: str | None
    operator: str
    reason: str = ""
    objects: dict[str, str] = field(default_factory=dict)  # stored with the node: prompt.md, reply.md …
    usage: dict[str, Any] = field(default_factory=dict)  # tokens, cost, model
    timeout_s: float | None = None  # a tighter time limit for its evaluation than the harness's own


class Operator(Protocol):
    name: str

    def propose(self, ctx: ExpansionContext) -> Proposal: ...
