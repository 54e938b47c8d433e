"""The operator mix: which operator expands a node, the LLM's universal operator or the mechanical
tuner. A first kernel and a buggy parent go to the LLM (the tuner only retunes working code); a
working parent goes to the LLM with probability ``llm_fraction``, else to the tuner, falling back
to the LLM when the tuner has nothing left to try. Without an LLM the tuner does everything."""

from __future__ import annotations

from kernelevolve.operators.base import ExpansionContext, Operator, Proposal


class OperatorMix:
    """An Operator that delegates each expansion; ``Proposal.operator`` names the one that wrote it."""

    name = "mix"

    def __init__(self, llm_operator: Operator | None, tuner: Operator, llm_fraction: float = 0.7) -> None:
        if not 0.0 <= llm_fraction <= 1.0:
            raise ValueError(f"llm_fraction must lie in [0, 1], not {llm_fraction}")
        self.llm = llm_operator
        self.tuner = tuner
        self.llm_fraction = llm_fraction

    def propose(self, ctx: ExpansionContext) -> Proposal:
        if self.llm is None:
            return self.tuner.propose(ctx)
        if ctx.parent is None or ctx.parent.is_buggy:
            return self.llm.propose(ctx)
        if ctx.rng.random() < self.llm_fraction:
            return self.llm.propose(ctx)
        proposal = self.tuner.propose(ctx)
        return proposal if proposal.source is not None else self.llm.propose(ctx)
