"""Prompt synthesis: what the system and user messages carry, how knowledge is cut to its budget,
and the markdown stored beside a node."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from kernelevolve.eval.result import EvalResult, Failure, Status
from kernelevolve.graph import Graph, NodeView
from kernelevolve.knowledge import Document, KnowledgeBase
from kernelevolve.operators.base import ExpansionContext
from kernelevolve.operators.context import diagnose
from kernelevolve.operators.prompts import (
    MIN_EXCERPT_CHARS,
    TRIMMED,
    PromptTooLarge,
    build_messages,
    excerpts,
    render_prompt_markdown,
    render_template,
)
from kernelevolve.platform import CudaPlatform, InterpreterPlatform, Platform
from kernelevolve.problem import load_problem
from tests.reference_layouts import FORWARD_BODY, GATE_BODY, INIT_SIGNATURE, LAYOUTS, write_layout

PROBLEM = load_problem(Path(__file__).with_name("data") / "softmax_problem.py")
REFERENCE = PROBLEM.source
PARENT_SOURCE = "import triton\n\n@triton.jit\ndef softmax_kernel(x_ptr, n_cols):\n    offs = tl.arange(0, n_cols)\n"
COMPILE_ERROR_FAILURE = Failure(shape="rows4096", trial=0, error_class="InterpreterError",
                                message="ValueError(\"arange's arguments must be of type tl.constexpr\")",
                                kernel_line="kernel.py line 5: offs = tl.arange(0, n_cols)")
COMPILE_ERROR = EvalResult(status=Status.compile_error, reason=COMPILE_ERROR_FAILURE.sentence(),
                           failure=COMPILE_ERROR_FAILURE)
GUIDANCE = Document("guidance/reductions.md", "Reductions", "# Reductions\n\nUse tl.max then tl.sum over the row.")
CONSTRAINT = Document("constraints/output-format.md", "Output format", "# Output format\n\nOne python block.")


INTERPRETER = InterpreterPlatform()


def context(parent: NodeView | None, platform: Platform = INTERPRETER) -> ExpansionContext:
    graph = Graph([parent] if parent is not None else [])
    return ExpansionContext(PROBLEM, parent, graph, platform, random.Random(0))


def broken_parent() -> NodeView:
    return NodeView(7, None, 0.0, True, "compile_error", "llm", "h7", PARENT_SOURCE, COMPILE_ERROR.model_dump(mode="json"))


def messages_for(parent: NodeView | None, knowledge=(GUIDANCE,), constraints=(CONSTRAINT,), **kw) -> list:
    ctx = context(parent)
    messages = build_messages(ctx, diagnose(ctx), list(knowledge), list(constraints), **kw)
    assert [m.role for m in messages] == ["system", "user"]
    return messages


def user_prompt(parent: NodeView | None, **kw) -> str:
    """The whole prompt, system message first."""
    return "\n\n".join(m.content for m in messages_for(parent, **kw))


def test_prompt_carries_the_reference_its_shapes_and_tolerances():
    prompt = user_prompt(None)
    assert REFERENCE.strip() in prompt
    assert "- `rows4096`: {'rows': 4096, 'cols': 1024} (timed and checked)" in prompt
    assert "- `ragged`: {'rows': 5, 'cols': 123} (checked only)" in prompt
    assert "| float32 | 0.0001 | 0.0001 |" in prompt and "| bfloat16 | 0.02 | 0.02 |" in prompt
    assert "This problem does not allow TF32." in prompt


def test_a_draft_prompt_says_there_is_no_kernel_yet():
    prompt = user_prompt(None)
    assert "None yet: write the first kernel." in prompt
    assert "Write the first Triton kernel" in prompt


def test_prompt_carries_the_parent_kernel_and_its_decisive_compile_error():
    prompt = user_prompt(broken_parent())
    assert PARENT_SOURCE.strip() in prompt
    assert "# Diagnosis of node #7" in prompt
    assert "InterpreterError: ValueError(\"arange's arguments must be of type tl.constexpr\")" in prompt
    assert "kernel.py line 5: offs = tl.arange(0, n_cols)" in prompt
    assert "Aim: fix compile error: InterpreterError" in prompt


def test_a_parent_without_source_asks_for_a_complete_file():
    parent = NodeView(3, None, 0.0, True, "no_candidate", "llm", "h3", "", {"reason": "no python code block"})
    prompt = user_prompt(parent)
    assert "Node #3 holds no kernel source (see the diagnosis): write a complete file." in prompt
    assert "**no_candidate**: no python code block" in prompt


def test_prompt_carries_retrieved_knowledge_and_constraints():
    prompt = user_prompt(None)
    assert "## Reductions (`guidance/reductions.md`)" in prompt
    assert "Use tl.max then tl.sum over the row." in prompt
    assert "## Output format (`constraints/output-format.md`)" in prompt and "One python block." in prompt


def test_what_stays_the_same_through_a_run_is_the_system_message_and_what_changes_the_user_message():
    sample = Document("samples/softmax.py", "Softmax sample", "def softmax_kernel(): pass")
    draft = messages_for(None, knowledge=(GUIDANCE, sample), problem_docs=[sample])
    repair = messages_for(broken_parent(), knowledge=(GUIDANCE, sample), problem_docs=[sample])
    assert draft[0].content == repair[0].content  # the cacheable prefix is identical from step to step
    system, user = repair[0].content, repair[1].content
    for constant in (REFERENCE.strip(), "| float32 | 0.0001 | 0.0001 |", "Target: the Triton CPU interpreter",
                     "## Softmax sample (`samples/softmax.py`)", "## Output format (`constraints/output-format.md`)",
                     "`class ModelNew(nn.Module)`"):
        assert constant in system and constant not in user
    for variable in ("Aim: fix compile error", PARENT_SOURCE.strip(), "kernel.py line 5", "Use tl.max then tl.sum"):
        assert variable in user and variable not in system
    assert system.index("# Problem") < system.index("# Knowledge for this problem") < system.index("# Constraints")
    assert user.count("def softmax_kernel(): pass") == 0  # a problem document is not repeated per step


def test_the_step_part_runs_from_what_changes_least_to_what_changes_every_step():
    user = messages_for(broken_parent())[1].content
    order = ["# Knowledge retrieved for this diagnosis", "# Current kernel", PARENT_SOURCE.strip(),
             "# Diagnosis of node #7", "# Task", "Aim: fix compile error"]
    assert [user.index(part) for part in order] == sorted(user.index(part) for part in order)
    assert "node #7" not in user[: user.index(PARENT_SOURCE.strip())].lower()  # the node id follows the code


def test_retrieved_documents_are_shown_in_the_order_given_and_kept_by_rank():
    first, second = (Document(f"guidance/{n}.md", n.title(), f"# {n.title()}\n\n" + n * 300) for n in ("aa", "bb"))
    by_rank = messages_for(None, knowledge=(second, first), knowledge_order={"guidance/aa.md": 0, "guidance/bb.md": 1})
    user = by_rank[1].content
    assert user.index("## Aa (") < user.index("## Bb (")  # aa was retrieved first in the run: it stays on top
    kept = messages_for(None, knowledge=(second, first), knowledge_order={"guidance/aa.md": 0, "guidance/bb.md": 1},
                        knowledge_chars=800)[1].content
    assert "## Bb (" in kept and "## Aa (" not in kept  # the budget goes to the best ranked


def test_a_prompt_over_its_budget_drops_retrieved_knowledge_and_else_is_refused():
    sample = Document("samples/softmax.py", "Softmax sample", "s" * 3_000)
    guidance = Document("guidance/long.md", "Long", "g" * 3_000)
    full = sum(len(m.content) for m in messages_for(broken_parent(), knowledge=(guidance,), problem_docs=[sample]))
    lean = messages_for(broken_parent(), knowledge=(guidance,), problem_docs=[sample], max_chars=full - 1)
    assert "g" * 1_000 not in lean[1].content and "s" * 1_000 in lean[0].content  # the diagnosis's goes first
    bare = sum(len(m.content) for m in messages_for(broken_parent(), knowledge=(), problem_docs=[]))
    with pytest.raises(PromptTooLarge, match=f"over the limit of {bare - 1:,}"):
        messages_for(broken_parent(), knowledge=(guidance,), problem_docs=[sample], max_chars=bare - 1)


def test_inspirations_from_other_branches_are_shown_in_the_step_part():
    other = NodeView(9, None, 1.0, False, "ok", "llm", "h9", "def other_kernel(): pass\n", tags={"change": "two passes"})
    parent = broken_parent()
    ctx = ExpansionContext(PROBLEM, parent, Graph([parent, other]), INTERPRETER, random.Random(0))
    system, user = (m.content for m in build_messages(ctx, diagnose(ctx), [], [CONSTRAINT]))
    assert "# Correct kernels from other branches of this search" in user
    assert "## Node #9 (llm, score 1): two passes" in user and "def other_kernel(): pass" in user
    assert "other_kernel" not in system


def test_a_retrieved_constraint_is_shown_once():
    prompt = user_prompt(None, knowledge=(CONSTRAINT, GUIDANCE))
    assert prompt.count("One python block.") == 1


def test_output_format_asks_for_one_block_with_the_reference_constructor():
    prompt = user_prompt(None)
    assert "exactly one ```python block holding the complete file" in prompt
    assert "`def __init__(self, dim: int=-1, scale: float=1.0)`" in prompt
    assert "`def forward(self, x: torch.Tensor)`" in prompt
    assert "`class ModelNew(nn.Module)`" in prompt


def test_the_system_message_states_each_rule_once():
    kb = KnowledgeBase.load()
    system = messages_for(broken_parent(), knowledge=(), constraints=kb.constraints())[0].content
    for rule in ("atol + rtol * |ref|", "other code blocks", "plain `torch.Tensor`", "same names, order and defaults",
                 "never resubmit", "for allocation", "does not time kernels", "Quick self-check"):
        assert system.count(rule) <= 1, rule
    assert "Quick self-check" not in system and system.count("`Change:") == 1


def test_the_target_is_the_detected_device():
    ctx = context(None, platform=CudaPlatform("NVIDIA H200"))
    system = build_messages(ctx, diagnose(ctx), [], [CONSTRAINT])[0].content
    assert "Target: an NVIDIA GPU (platform `cuda`); timed against eager PyTorch and torch.compile; " \
           "the device is NVIDIA H200 (datasheet peaks: 4.80 TB/s" in system


def test_system_prompt_states_the_role_and_the_rules():
    ctx = context(None, platform=CudaPlatform())
    system = build_messages(ctx, diagnose(ctx), [], [CONSTRAINT])[0].content
    assert "You write Triton kernels" in system and "Correctness comes first" in system
    assert "an NVIDIA GPU" in system


def test_knowledge_is_cut_to_its_budget_at_a_paragraph():
    long_doc = Document("guidance/tiling.md", "Tiling", "\n\n".join(f"Paragraph {i}. " + "x" * 90 for i in range(40)))
    shown = excerpts([long_doc, long_doc], budget=1_000)
    assert len(shown) == 1  # what is left after the first is under MIN_EXCERPT_CHARS
    text = shown[0].text
    assert len(text) <= 1_000 and text.endswith(TRIMMED)
    assert text[: -len(TRIMMED)].endswith("x" * 90)  # a whole paragraph, not half of one


def test_a_document_that_would_only_get_a_stub_is_left_out():
    first = Document("a.md", "A", "a" * 700)
    assert [e.path for e in excerpts([first, GUIDANCE, first], budget=700 + MIN_EXCERPT_CHARS - 1)] == ["a.md", "guidance/reductions.md"]


def test_a_notes_headings_sit_below_the_prompts_own():
    note = Document("guidance/masks.md", "Masks", "# Masks\n\nIntro.\n\n## Tails\n\n```python\n# a comment\n```\n")
    text = excerpts([note], budget=1_000)[0].text
    assert text.startswith("Intro.")
    assert "\n#### Tails\n" in text and "\n# a comment\n" in text


def test_a_sample_cut_short_keeps_its_code_fence_closed():
    sample = Document("samples/big.py", "Big", "\n".join(f"x{i} = {i}" for i in range(400)))
    text = excerpts([sample], budget=600)[0].text
    assert text.startswith("```python") and text.count("```") == 2


def test_real_knowledge_base_fits_the_default_budgets():
    kb = KnowledgeBase.load()
    docs = kb.search("compile error constexpr arange softmax", InterpreterPlatform(), k=4)
    system, user = (m.content for m in messages_for(broken_parent(), knowledge=docs, constraints=kb.constraints()))
    assert docs and docs[0].title in user
    for doc in kb.constraints():
        assert f"## {doc.title} (`{doc.path}`)" in system
    constraints = system[system.index("# Constraints") : system.index("# Output format")]
    assert TRIMMED not in constraints


def test_prompt_markdown_names_each_role():
    ctx = context(broken_parent())
    markdown = render_prompt_markdown(build_messages(ctx, diagnose(ctx), [GUIDANCE], [CONSTRAINT]))
    assert "<!-- message 1: system -->\n# system" in markdown
    assert "<!-- message 2: user -->\n# user" in markdown
    assert PARENT_SOURCE.strip() in markdown


def test_a_template_value_left_out_raises():
    with pytest.raises(UndefinedError):
        render_template("user.j2", {})


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_prompt_shows_the_reference_wherever_it_is_defined(layout, tmp_path, isolated_imports):
    problem = load_problem(write_layout(layout, tmp_path, isolated_imports))
    ctx = ExpansionContext(problem, None, Graph([]), InterpreterPlatform(), random.Random(0))
    prompt = "\n\n".join(m.content for m in build_messages(ctx, diagnose(ctx), [], [CONSTRAINT]))
    assert problem.source.strip() in prompt
    assert FORWARD_BODY in prompt and GATE_BODY in prompt
    assert re.search(r"^EPS = 1e-0?6$", prompt, re.M)
    assert f"constructor `{INIT_SIGNATURE}`, built as `Model(64, 0.25)` from `get_init_inputs()` (hidden=64, alpha=0.25)" in prompt
    assert f"whose constructor is `{INIT_SIGNATURE}`" in prompt and "whose forward is `def forward(self, x, idx)`" in prompt
    assert "its inputs, for shape `rows4096` (values as seed 0 draws them for shape `rows4096`)" in prompt
    assert re.search(r"  - `x`: float32 \[4096, 64\]; values in \[-[\d.]+, [\d.]+\]; as get_inputs draws it in each "
                     r"shape's first trial, and redrawn by the harness in the others", prompt)
    assert "  - `idx`: int64 [4096]; integers in [1, 4095], sorted along the last dimension" in prompt
    assert "Not shown in full" not in prompt


def test_a_problem_that_allows_library_operators_says_which():
    def system(problem) -> str:
        ctx = ExpansionContext(problem, None, Graph([]), INTERPRETER, random.Random(0))
        return build_messages(ctx, diagnose(ctx), [], [])[0].content

    assert "allows these PyTorch operators" not in system(PROBLEM)
    hybrid = load_problem(Path(__file__).parents[1] / "eval" / "kernelbench" / "linear_relu_hybrid.py")
    assert ("allows these PyTorch operators in the candidate (a hybrid: keep them in PyTorch, fuse the rest in "
            "Triton kernels): `aten.addmm`, `aten.mm`.") in system(hybrid)
