"""Prompt synthesis for the universal operator: the system and user messages rendered from the
Jinja2 templates in ``operators/templates``, with retrieved knowledge and constraints trimmed to a
budget of characters.

The prompt is laid out for providers' prefix caches: the system message holds everything that stays
the same through a run, in a fixed order (role and rules, the problem, its shapes and tolerances,
the target, knowledge retrieved for the problem, the constraints, the output format); the user
message holds what changes at each step, what changes least first: knowledge retrieved for the
diagnosis (often the same from one step to the next, and shown in the order the run first
retrieved it, so a document retrieved again keeps its place), correct kernels of other branches,
the current kernel (whose head a child often shares with its parent), its diagnosis, and last the
node's id and the aim. Identical prefixes are what OpenAI-compatible servers reuse, and the
Anthropic backend marks the system message for caching."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from kernelevolve.knowledge import Document
from kernelevolve.llm import Message
from kernelevolve.operators.base import ExpansionContext
from kernelevolve.problem import Problem
from kernelevolve.reference import describe_reference

if TYPE_CHECKING:  # context renders its diagnosis with the templates here
    from kernelevolve.operators.context import Diagnosis

TEMPLATES = Path(__file__).with_name("templates")
PROBLEM_KNOWLEDGE_CHARS = 14_000  # documents retrieved for the problem, all together (the constant part)
KNOWLEDGE_CHARS = 6_000  # documents retrieved for one step's diagnosis, all together: one and most of a second
CONSTRAINTS_CHARS = 16_000  # the constraints/ documents, all together (~11 kB shipped)
# The whole prompt (about 40k tokens): over it, retrieved knowledge goes first (the diagnosis's,
# then the problem's); a prompt still over it is not sent.
MAX_PROMPT_CHARS = 160_000
MIN_EXCERPT_CHARS = 400  # a document that would get less is left out, not shown as a stub
TRIMMED = "\n\n[… trimmed]"
_HEADING = re.compile(r"^#{1,4} ")

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def percent(fraction: float | None) -> str:
    """``41%``; one decimal under 10% (``0.4%``), where whole percents would all read 0%."""
    if fraction is None:
        return "–"
    return f"{fraction:.0%}" if fraction >= 0.1 else f"{fraction:.1%}"


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    """A number as the templates show it; a dash where it is missing."""
    return "–" if value is None else format(value, spec) + suffix


_templates.filters["fmt"] = _fmt
_templates.filters["percent"] = percent


class PromptTooLarge(Exception):
    """Even without retrieved knowledge the prompt is over its budget (a huge problem file or kernel)."""


@dataclass(frozen=True)
class Excerpt:
    """A document as the prompt shows it: possibly cut to fit the budget."""

    path: str
    title: str
    text: str


def build_messages(
    ctx: ExpansionContext,
    diagnosis: Diagnosis,
    knowledge_docs: list[Document],
    constraints_docs: list[Document],
    *,
    problem_docs: Sequence[Document] = (),
    knowledge_order: Mapping[str, int] | None = None,
    knowledge_chars: int = KNOWLEDGE_CHARS,
    problem_knowledge_chars: int = PROBLEM_KNOWLEDGE_CHARS,
    constraints_chars: int = CONSTRAINTS_CHARS,
    max_chars: int = MAX_PROMPT_CHARS,
) -> list[Message]:
    """The system message (what stays the same through the run: rules, problem, problem knowledge,
    constraints, output format) and the user message (what this step changes: knowledge for the
    diagnosis, inspirations, current kernel, diagnosis, aim) for one expansion. A document is shown once: the
    constraints, then the problem's documents, win over the diagnosis's. ``knowledge_docs`` come
    best first, and the best are the ones the budget keeps; ``knowledge_order`` (a key by path, such
    as the step that first retrieved each) is the order they are shown in, by path where it ties.

    Over ``max_chars`` the diagnosis's knowledge is left out, then the problem's (the cached part
    changes then, but only for prompts that big); PromptTooLarge if it is still over."""
    budgets = ((knowledge_chars, problem_knowledge_chars), (0, problem_knowledge_chars), (0, 0))
    for knowledge_budget, problem_budget in budgets:
        messages = _render_messages(ctx, diagnosis, knowledge_docs, constraints_docs, problem_docs,
                                    knowledge_order, knowledge_budget, problem_budget, constraints_chars)
        size = sum(len(m.content) for m in messages)
        if size <= max_chars:
            return messages
    raise PromptTooLarge(
        f"the prompt would be {size:,} characters even without retrieved knowledge, over the limit of "
        f"{max_chars:,}: the problem file, the reference's code or the current kernel is too large to send"
    )


def _render_messages(
    ctx: ExpansionContext,
    diagnosis: Diagnosis,
    knowledge_docs: list[Document],
    constraints_docs: list[Document],
    problem_docs: Sequence[Document],
    knowledge_order: Mapping[str, int] | None,
    knowledge_chars: int,
    problem_knowledge_chars: int,
    constraints_chars: int,
) -> list[Message]:
    constraint_paths = {d.path for d in constraints_docs}
    for_problem = [d for d in problem_docs if d.path not in constraint_paths]
    shown = constraint_paths | {d.path for d in for_problem}
    retrieved = [d for d in knowledge_docs if d.path not in shown]
    knowledge = excerpts(retrieved, knowledge_chars)
    if knowledge_order is not None:
        knowledge.sort(key=lambda e: (knowledge_order.get(e.path, math.inf), e.path))
    reference = describe_reference(ctx.problem)
    parent = ctx.parent
    values = {
        "platform_note": ctx.platform.describe(),
        "aim": diagnosis.aim(),
        "problem_name": ctx.problem.name,
        "problem_file": ctx.problem.path.name,
        "problem_source": ctx.problem.source,
        "reference": reference,
        "shapes": ctx.problem.shapes,
        "tolerances": tolerance_rows(ctx.problem),
        "allow_tf32": ctx.problem.allow_tf32,
        "allow_torch_ops": [f"`aten.{name}`" for name in ctx.problem.allow_torch_ops],
        "parent_id": parent.id if parent is not None else None,
        "parent_source": parent.source if parent is not None and parent.source.strip() else None,
        "diagnosis": diagnosis.render(),
        "inspirations": diagnosis.inspirations,
        "knowledge": knowledge,
        "problem_knowledge": excerpts(for_problem, problem_knowledge_chars),
        "constraints": excerpts(constraints_docs, constraints_chars),
        "init_signature": reference.init_signature,
        "forward_signature": reference.forward_signature,
    }
    return [
        Message("system", render_template("system.j2", values)),
        Message("user", render_template("user.j2", values)),
    ]


def render_template(name: str, values: dict[str, Any]) -> str:
    """One template of ``operators/templates``; a value it names but is not given raises."""
    return _templates.get_template(name).render(values)


def render_prompt_markdown(messages: list[Message]) -> str:
    """The messages as one markdown file, each under a heading that names its role."""
    parts = [f"<!-- message {i}: {m.role} -->\n# {m.role}\n\n{m.content.strip()}\n" for i, m in enumerate(messages, 1)]
    return "\n---\n\n".join(parts)


def excerpts(docs: list[Document], budget: int) -> list[Excerpt]:
    """The documents in order, each cut at a paragraph or line boundary once the budget runs low;
    those that would get less than ``MIN_EXCERPT_CHARS`` are left out."""
    shown: list[Excerpt] = []
    left = budget
    for doc in docs:
        text = _as_markdown(doc)
        if len(text) > left:
            if left < MIN_EXCERPT_CHARS:
                break
            text = _cut(text, left - len(TRIMMED)) + TRIMMED
        shown.append(Excerpt(doc.path, doc.title, text))
        left -= len(text)
    return shown


def tolerance_rows(problem: Problem) -> list[tuple[str, tuple[float, float]]]:
    """(dtype, (atol, rtol)) as the harness applies them: float32 reads the TF32 pair when allowed."""
    return [(dtype, problem.tolerance(dtype)) for dtype in problem.tolerances if dtype != "float32_tf32"]


def _as_markdown(doc: Document) -> str:
    """A sample as a python block; a note without its title line (the prompt heads it with the
    title) and with its headings moved two levels down, under the prompt's own."""
    if doc.path.endswith(".py"):
        return f"```python\n{doc.text.strip()}\n```"
    lines = doc.text.strip().splitlines()
    if lines and lines[0].startswith("#") and lines[0].lstrip("#").strip() == doc.title:
        lines = lines[1:]
    in_fence = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and _HEADING.match(line):
            lines[i] = "##" + line
    return "\n".join(lines).strip()


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at the last paragraph (else line) break; a cut
    inside a code fence closes the fence."""
    head = text[:limit]
    for boundary in ("\n\n", "\n"):
        at = head.rfind(boundary)
        if at > limit // 2:
            head = head[:at]
            break
    if head.count("```") % 2:
        head += "\n```"
    return head.rstrip()
