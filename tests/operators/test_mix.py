"""The operator mix: the LLM / tuner ratio over working parents, and the rules that override it."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path

import pytest

from kernelevolve.graph import Graph, NodeView
from kernelevolve.operators.base import ExpansionContext, Proposal
from kernelevolve.operators.mix import OperatorMix
from kernelevolve.operators.tuner import Tuner
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import Problem

PROBLEM = Problem(Path("problem.py"), "", "", [], {}, allow_tf32=False, trials=3)
TUNABLE = (Path(__file__).parent / "data" / "scaled_add.py").read_text()


class Scripted:
    """An operator that answers with a fixed source (None: nothing to propose) and counts its calls."""

    def __init__(self, name: str, source: str | None = "kernel") -> None:
        self.name, self.source, self.calls = name, source, 0

    def propose(self, ctx: ExpansionContext) -> Proposal:
        self.calls += 1
        return Proposal(self.source, self.name, reason=f"{self.name} reason")


def parent(buggy: bool = False, source: str = "kernel") -> NodeView:
    digest = hashlib.sha256(source.encode()).hexdigest()
    return NodeView(1, None, 0.0 if buggy else 1.0, buggy, "compile_error" if buggy else "ok", "llm", digest, source)


def expand(mix: OperatorMix, node: NodeView | None, rng: random.Random) -> Proposal:
    return mix.propose(ExpansionContext(PROBLEM, node, Graph([node] if node else []), InterpreterPlatform(), rng))


def test_working_parents_go_to_the_llm_at_the_configured_ratio():
    mix = OperatorMix(Scripted("llm"), Scripted("tuner"), llm_fraction=0.7)
    rng = random.Random(2024)
    picks = Counter(expand(mix, parent(), rng).operator for _ in range(4000))
    assert picks["llm"] / 4000 == pytest.approx(0.7, abs=0.025)


def test_the_same_seed_makes_the_same_choices():
    mix = OperatorMix(Scripted("llm"), Scripted("tuner"), llm_fraction=0.5)
    runs = [[expand(mix, parent(), rng).operator for _ in range(50)] for rng in (random.Random(9), random.Random(9))]
    assert runs[0] == runs[1] and set(runs[0]) == {"llm", "tuner"}


def test_a_first_kernel_is_always_the_llms():
    llm, tuner = Scripted("llm"), Scripted("tuner")
    mix = OperatorMix(llm, tuner, llm_fraction=0.0)
    assert {expand(mix, None, random.Random(i)).operator for i in range(20)} == {"llm"}
    assert tuner.calls == 0


def test_a_buggy_parent_is_always_the_llms():
    llm, tuner = Scripted("llm"), Scripted("tuner")
    mix = OperatorMix(llm, tuner, llm_fraction=0.0)
    assert {expand(mix, parent(buggy=True), random.Random(i)).operator for i in range(20)} == {"llm"}
    assert tuner.calls == 0


def test_without_llm_fraction_a_working_parent_goes_to_the_tuner():
    mix = OperatorMix(Scripted("llm"), Scripted("tuner"), llm_fraction=0.0)
    assert {expand(mix, parent(), random.Random(i)).operator for i in range(20)} == {"tuner"}


def test_when_the_tuner_has_nothing_the_llm_writes_the_kernel():
    llm, tuner = Scripted("llm"), Scripted("tuner", source=None)
    proposal = expand(OperatorMix(llm, tuner, llm_fraction=0.0), parent(), random.Random(0))
    assert (proposal.operator, proposal.source, tuner.calls, llm.calls) == ("llm", "kernel", 1, 1)


def test_without_an_llm_the_tuner_does_everything_and_its_empty_proposal_comes_back():
    mix = OperatorMix(None, Tuner(), llm_fraction=0.7)
    tuned = expand(mix, parent(source=TUNABLE), random.Random(0))
    assert tuned.operator == "tuner" and tuned.source not in (None, TUNABLE)
    draft = expand(mix, None, random.Random(0))
    assert draft.operator == "tuner" and draft.source is None
    assert "no parent" in draft.reason


def test_the_real_tuner_with_no_tunable_literal_falls_back_to_the_llm():
    proposal = expand(OperatorMix(Scripted("llm"), Tuner(), llm_fraction=0.0), parent(source="x = 1\n"), random.Random(0))
    assert proposal.operator == "llm"


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_a_fraction_outside_zero_to_one_is_refused(fraction):
    with pytest.raises(ValueError, match="llm_fraction"):
        OperatorMix(Scripted("llm"), Scripted("tuner"), llm_fraction=fraction)
