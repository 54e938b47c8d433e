"""The prompts of a run share their prefix from step to step: the least-shared prompt of a draft,
its correct child, a failed sibling and a grandchild on the interpreter stays at 70% or more.

The steps are what benchmarks/prompt_prefix.py records from whole runs, without the evaluations: a
real universal operator and knowledge base, a loopback server that measures each prompt's share."""

from __future__ import annotations

import random
from pathlib import Path

from kernelevolve.eval.result import EvalResult, Status
from kernelevolve.graph import Graph, NodeView
from kernelevolve.knowledge import KnowledgeBase
from kernelevolve.llm import Ensemble
from kernelevolve.operators.base import ExpansionContext
from kernelevolve.operators.context import CHANGE_TAG
from kernelevolve.operators.universal import UniversalOperator
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import load_problem
from tests.llm.fake_servers import OpenAIServer, Reply, isolate_llm_env

ROOT = Path(__file__).resolve().parents[2]
GOAL = 0.70
# The problem whose prompts shared least (68%) before the step part was laid out for reuse.
PROBLEM = load_problem(ROOT / "suites" / "recsys" / "rmsnorm_backward.py")
KERNEL = (ROOT / "src" / "kernelevolve" / "knowledge" / "base" / "samples" / "recsys" / "rmsnorm_backward.py").read_text()
CORRECT = EvalResult(status=Status.ok, correct=True, reason="correct on every case", platform="interpreter")
BROKEN = EvalResult(status=Status.syntax_error, reason="invalid syntax (kernel.py, line 300)")


def node(node_id: int, parent: int | None, result: EvalResult, variant: int) -> NodeView:
    ok = result.status == Status.ok
    return NodeView(node_id, parent, 1.0 if ok else 0.0, not ok, result.status.value, "llm", f"h{node_id}",
                    f"{KERNEL}\n# variant {variant}\n", result.model_dump(mode="json"),
                    tags={CHANGE_TAG: f"variant {variant}."})


def test_the_least_shared_prompt_of_a_run_keeps_most_of_its_prefix(monkeypatch):
    isolate_llm_env(monkeypatch)
    reply = Reply(text=f"Change: variant.\n\n```python\n{KERNEL}\n```\n")
    with OpenAIServer(respond=lambda request: reply, prefix_cache=True) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        operator = UniversalOperator(Ensemble.from_specs(["openai:fake-model"], max_retries=0), KnowledgeBase.load())
        first = node(1, None, CORRECT, 1)
        steps = [(None, []), (first, [first])]  # the draft, then its correct child
        failed = node(2, 1, BROKEN, 2)
        steps.append((first, [first, failed]))  # the same parent again, beside a failed attempt
        grandchild = node(3, 1, CORRECT, 3)
        steps.append((grandchild, [first, failed, grandchild]))
        for parent, nodes in steps:
            operator.propose(ExpansionContext(PROBLEM, parent, Graph(nodes), InterpreterPlatform(), random.Random(0)))
        shares = list(srv.prefix_shares)
    assert len(shares) == len(steps) - 1
    assert min(shares) >= GOAL, [f"{s:.1%}" for s in shares]
