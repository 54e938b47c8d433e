"""The universal operator: one context-adaptive LLM operator in place of fixed draft / debug /
improve prompts. It reads what happened to the parent node, retrieves knowledge for that diagnosis,
asks the LLM for the next kernel and parses the file out of the reply."""

from __future__ import annotations

import ast
import random
import re
import threading
from typing import Protocol

from kernelevolve.knowledge import Document, KnowledgeBase, build_query
from kernelevolve.knowledge.retrieval import BUILTIN_SOURCE
from kernelevolve.llm import Completion, Message
from kernelevolve.operators.base import ExpansionContext, Proposal
from kernelevolve.operators.context import diagnose
from kernelevolve.operators.prompts import (
    PromptTooLarge,
    build_messages,
    render_prompt_markdown,
)
from kernelevolve.operators.reply import parse_reply, stored_reply
from kernelevolve.platform import Platform
from kernelevolve.problem import Problem
from kernelevolve.reference import describe_reference, reference_aten_ops

# Module prefixes under which the reference's calls name PyTorch operators.
TORCH_NAMESPACES = ("torch", "F", "nn", "nn.functional", "torch.nn", "torch.nn.functional")


class CompletionSource(Protocol):
    """What the operator needs of an LLM: ``kernelevolve.llm.Ensemble``, or anything answering the same call."""

    def complete(self, messages: list[Message], rng: random.Random) -> Completion: ...


class UniversalOperator:
    """diagnosis → retrieval → prompt → LLM → kernel source. An ``LLMError`` propagates: whether to
    retry, record or stop is the controller's decision."""

    name = "llm"

    def __init__(
        self,
        llm: CompletionSource,
        knowledge: KnowledgeBase,
        knowledge_k: int = 3,
        problem_k: int = 5,
    ) -> None:
        self.llm = llm
        self.knowledge = knowledge
        self.knowledge_k = knowledge_k
        self.problem_k = problem_k
        # The step at which this run first retrieved each document for a diagnosis: the key that
        # orders the step part's documents, so one retrieved again sits where it sat before.
        self._first_retrieved: dict[str, int] = {}
        self._steps = 0
        self._lock = threading.Lock()

    def problem_documents(self, ctx: ExpansionContext, operators: list[str]) -> list[Document]:
        """What the knowledge base holds for the problem itself (its name, its shapes' parameters,
        the operators its reference calls and dispatches, the platform): the same at every step of
        a run, so it sits in the prompt's cached part. One hardware note of the platform is always
        among them, second, after the best match (the note that best matches the problem's words):
        what the target can and cannot do matters to a first draft whatever the problem."""
        query = problem_query(ctx.problem, operators, ctx.platform)
        ranked = self.knowledge.search(query, ctx.platform, k=len(self.knowledge.documents()))  # all that match
        docs = list({d.path: d for d in [*self.users_kernels_named_after(ctx.problem),
                                         *ranked[: self.problem_k]]}.values())[: self.problem_k]
        notes = self.knowledge.platform_notes(ctx.platform)
        if not notes:
            return docs
        paths = {d.path for d in notes}
        note = next((d for d in [*docs, *ranked] if d.path in paths), notes[0])
        others = [d for d in docs if d.path != note.path]
        return [*others[:1], note, *others[1:]][: self.problem_k]  # second: the budget shows it

    def users_kernels_named_after(self, problem: Problem) -> list[Document]:
        """A user's own kernels (from a ``--knowledge`` tree) whose file name holds a word of the
        problem's name (``layer_norm`` finds ``fused_layer_norm.py``): first, before ranked ones."""
        words = [w.lower() for w in re.split(r"[\W_]+", problem.name) if len(w) >= 4]
        return [d for w in words for d in self.knowledge.find(f"*{w}*.py", by="name") if d.source != BUILTIN_SOURCE]

    def first_retrieved(self, docs: list[Document]) -> dict[str, int]:
        """The order the step part shows ``docs`` in: by the step of this run that first retrieved
        each, then by path. Ranked by relevance instead, a document retrieved again would move
        whenever another one ranked above it, and the prefix a cache serves would end there."""
        with self._lock:
            for doc in docs:
                self._first_retrieved.setdefault(doc.path, self._steps)
            self._steps += 1
            return {d.path: self._first_retrieved[d.path] for d in docs}

    def propose(self, ctx: ExpansionContext) -> Proposal:
        diagnosis = diagnose(ctx)
        facts = describe_reference(ctx.problem)
        operators = list(dict.fromkeys([*reference_operators(facts.model_source), *reference_aten_ops(ctx.problem)]))
        problem_docs = self.problem_documents(ctx, operators)
        query = build_query(diagnosis.query_terms(), operators, ctx.platform)
        constraints = self.knowledge.constraints()
        # Asked for more than shown: those the system message already holds are left out.
        held = {d.path for d in [*problem_docs, *constraints]}
        docs = self.knowledge.search(query, ctx.platform, k=self.knowledge_k + len(held))
        docs = [d for d in docs if d.path not in held][: self.knowledge_k]
        try:
            messages = build_messages(ctx, diagnosis, docs, constraints, problem_docs=problem_docs,
                                      knowledge_order=self.first_retrieved(docs))
        except PromptTooLarge as exc:  # no request: a node that says why, and the run goes on
            return Proposal(source=None, operator=self.name, reason=f"{exc} (aim: {diagnosis.aim()})",
                            objects={"diagnosis.md": diagnosis.render()})
        completion = self.llm.complete(messages, ctx.rng)
        parsed = parse_reply(completion.text)
        aim = diagnosis.aim()
        if parsed.source is None:
            reason = f"{parsed.reason} (aim: {aim})"
        else:
            reason = f"{parsed.change} (aim: {aim})" if parsed.change else aim  # the change first: what show lists
        return Proposal(
            source=parsed.source,
            operator=self.name,
            reason=reason,
            objects={
                "prompt.md": render_prompt_markdown(messages),
                "reply.md": stored_reply(completion.text),
                "diagnosis.md": diagnosis.render(),
            },
            usage={
                "model": completion.model,
                "backend": completion.backend,
                "input_tokens": completion.input_tokens,
                "output_tokens": completion.output_tokens,
                "cached_input_tokens": completion.cached_input_tokens,
                "cache_write_tokens": completion.cache_write_tokens,
                "cost_usd": completion.cost_usd,
                "latency_s": completion.latency_s,
                "attempts": completion.attempts,
            },
        )


def reference_operators(model_source: str) -> list[str]:
    """The PyTorch operators the reference model's code calls (``torch.softmax``, ``F.gelu``,
    ``nn.Linear`` …), in order of first use: they steer retrieval towards the matching guidance and
    samples. ``model_source`` is the model's code without input generation (``ReferenceFacts.model_source``)."""
    try:
        tree = ast.parse(model_source)
    except (SyntaxError, ValueError):
        return []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    names = [ast.unparse(call.func) for call in calls]
    return list(dict.fromkeys(n for n in names if n.rpartition(".")[0] in TORCH_NAMESPACES))


def problem_query(problem: Problem, operators: list[str], platform: Platform) -> str:
    """Search words for a problem: its name's (``gemm_gelu``: gemm, gelu), its shapes' parameter
    names (``offsets``, ``seq_len``), the operators it calls and the platform's."""
    words = [w for w in re.split(r"[\W_]+", problem.name) if w]
    words += list(dict.fromkeys(name for shape in problem.shapes for name in shape.params))
    return build_query(words, operators, platform)
