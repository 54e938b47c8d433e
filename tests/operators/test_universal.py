"""The universal operator end to end against a real loopback OpenAI-compatible server, and the
reading of replies: which code block becomes the kernel, and what a reply without code gives."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from kernelevolve.eval.result import EvalResult, Failure, Status
from kernelevolve.graph import Graph, NodeView
from kernelevolve.knowledge import Document, KnowledgeBase
from kernelevolve.llm import Ensemble, LLMRequestError
from kernelevolve.operators.base import ExpansionContext
from kernelevolve.operators.context import CHANGE_TAG
from kernelevolve.operators.reply import MAX_KERNEL_CHARS, MAX_REPLY_CHARS, NO_CODE, parse_reply, stored_reply
from kernelevolve.operators.universal import UniversalOperator, reference_operators
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import load_problem
from kernelevolve.reference import describe_reference
from tests.llm.fake_servers import OpenAIServer, Reply, isolate_llm_env
from tests.llm.fake_servers import Status as HTTPStatus

PROBLEM = load_problem(Path(__file__).with_name("data") / "gelu_problem.py")
REFERENCE = PROBLEM.source
KERNEL = '''\
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def gelu_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask) + 1.0
    tl.store(y_ptr + offs, 0.5 * x * (1 + tl.erf(x * 0.7071067811865476)), mask=mask)


class ModelNew(nn.Module):
    def forward(self, x):
        y = torch.empty_like(x)
        gelu_kernel[(triton.cdiv(x.numel(), 1024),)](x, y, x.numel(), BLOCK=1024)
        return y
'''
CODE_REPLY = f"Change: one masked program per 1024 elements, erf form of GELU.\n\n```python\n{KERNEL}```\n"
COMPILE_ERROR_FAILURE = Failure(shape="n65536", trial=0, error_class="InterpreterError",
                                message="ValueError(\"arange's arguments must be of type tl.constexpr\")",
                                kernel_line="kernel.py line 9: offs = tl.program_id(0) * BLOCK + tl.arange(0, n)")
COMPILE_ERROR = EvalResult(status=Status.compile_error, reason=COMPILE_ERROR_FAILURE.sentence(),
                           failure=COMPILE_ERROR_FAILURE)


@pytest.fixture
def server(monkeypatch):
    """A loopback OpenAI-compatible server; its script is set by each test through ``server.play``."""
    isolate_llm_env(monkeypatch)
    replies: list = []
    with OpenAIServer(respond=lambda request: replies.pop(0)) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        srv.play = replies.extend
        yield srv


@pytest.fixture
def operator(server) -> UniversalOperator:
    llm = Ensemble.from_specs(["openai:fake-model?max_tokens=2048&temperature=0.2"], max_retries=0, backoff_s=0.001)
    return UniversalOperator(llm, KnowledgeBase.load())


def expand(op: UniversalOperator, parent: NodeView | None, nodes: list[NodeView]):
    return op.propose(ExpansionContext(PROBLEM, parent, Graph(nodes), InterpreterPlatform(), random.Random(3)))


def user_prompt_sent(server) -> str:
    """The whole prompt of the last request, system message first."""
    messages = server.bodies[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    return "\n\n".join(m["content"] for m in messages)


def test_the_prompt_that_reaches_the_server_carries_the_reference_and_retrieved_knowledge(server, operator):
    server.play([Reply(text=CODE_REPLY, input_tokens=5000, output_tokens=700)])
    proposal = expand(operator, None, [])
    prompt = user_prompt_sent(server)
    assert REFERENCE.strip() in prompt
    retrieved = KnowledgeBase.load().search("first kernel output format gelu", InterpreterPlatform(), k=4)
    assert any(f"(`{doc.path}`)" in prompt for doc in retrieved)
    assert "# Knowledge retrieved for this diagnosis" in prompt
    body = server.bodies[-1]
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("fake-model", 2048, 0.2)
    assert proposal.source == KERNEL
    assert proposal.operator == "llm"
    assert proposal.reason == "one masked program per 1024 elements, erf form of GELU. (aim: draft: write a first kernel)"
    assert proposal.objects["reply.md"] == CODE_REPLY
    assert REFERENCE.strip() in proposal.objects["prompt.md"]
    assert proposal.objects["diagnosis.md"].startswith("No kernel yet")
    assert proposal.usage["model"] == "fake-model"
    assert (proposal.usage["input_tokens"], proposal.usage["output_tokens"], proposal.usage["attempts"]) == (5000, 700, 1)
    assert set(proposal.usage) >= {"cost_usd", "latency_s"}


def test_a_reply_without_code_gives_no_source_and_keeps_the_reply(server, operator):
    server.play([Reply(text="I would use a larger block size and vectorised loads.")])
    proposal = expand(operator, None, [])
    assert proposal.source is None
    assert proposal.reason.startswith(NO_CODE)
    assert proposal.objects["reply.md"] == "I would use a larger block size and vectorised loads."
    assert "prompt.md" in proposal.objects


def test_an_expansion_from_a_compile_error_carries_the_decisive_error(server, operator):
    server.play([Reply(text=CODE_REPLY), Reply(text=CODE_REPLY)])
    draft = expand(operator, None, [])
    broken_source = draft.source.replace("tl.arange(0, BLOCK)", "tl.arange(0, n)")
    parent = NodeView(1, None, 0.0, True, "compile_error", "llm", "h1", broken_source,
                      COMPILE_ERROR.model_dump(mode="json"), tags={CHANGE_TAG: draft.reason})
    proposal = expand(operator, parent, [parent])
    prompt = user_prompt_sent(server)
    assert "InterpreterError: ValueError(\"arange's arguments must be of type tl.constexpr\")" in prompt
    assert "kernel.py line 9: offs = tl.program_id(0) * BLOCK + tl.arange(0, n)" in prompt
    assert broken_source.strip() in prompt
    assert f"- #1 llm, compile_error, score 0: {draft.reason}" in prompt
    assert "guidance/compile-errors.md" in prompt
    assert "(aim: fix compile error: InterpreterError" in proposal.reason


def test_documents_the_system_message_holds_leave_the_step_part_its_slots(server, operator):
    server.play([Reply(text=CODE_REPLY)])
    operator.knowledge_k = 1
    parent = NodeView(1, None, 0.0, True, "syntax_error", "llm", "h1", "def broken(:\n",
                      EvalResult(status=Status.syntax_error, reason="invalid syntax").model_dump(mode="json"))
    expand(operator, parent, [parent])
    system, user = (m["content"] for m in server.bodies[-1]["messages"])
    step_docs = re.findall(r"^## .* \(`([^`]+)`\)$", user.split("# Current kernel")[0], re.MULTILINE)
    # The query (syntax error, output format) ranks constraints/output-format.md first; the system
    # message shows it already, so the one step slot goes to the next document, not to nothing.
    assert len(step_docs) == 1 and not step_docs[0].startswith("constraints/")


def test_an_untimed_correct_kernel_is_sent_no_roofline_guidance(server, operator):
    server.play([Reply(text=CODE_REPLY)])
    untimed = EvalResult(status=Status.ok, correct=True, reason="correct on every case", platform="interpreter")
    parent = NodeView(1, None, 1.0, False, "ok", "llm", "h1", KERNEL, untimed.model_dump(mode="json"))
    expand(operator, parent, [parent])
    prompt = user_prompt_sent(server)
    assert "Aim: vary:" in prompt
    assert "(`guidance/performance-diagnosis.md`)" not in prompt  # no heading of it (another may name it)
    assert "datasheet peaks" not in prompt and "Step 1: estimate the floor" not in prompt


def test_a_document_retrieved_again_keeps_the_place_it_first_had(operator):
    first, second, third = (Document(f"guidance/{n}.md", n, n) for n in ("b", "a", "c"))
    assert operator.first_retrieved([first, second]) == {"guidance/b.md": 0, "guidance/a.md": 0}
    assert operator.first_retrieved([third, first]) == {"guidance/c.md": 1, "guidance/b.md": 0}


def test_an_llm_error_propagates(server, operator):
    server.play([HTTPStatus(400, message="context length exceeded")])
    with pytest.raises(LLMRequestError, match="context length exceeded"):
        expand(operator, None, [])


def test_reference_operators_are_the_torch_calls_in_order():
    source = "class Model:\n    def forward(self, x):\n        y = torch.matmul(x, x)\n        return F.relu(y).sum() + nn.functional.gelu(y)\n"
    assert reference_operators(source) == ["torch.matmul", "F.relu", "nn.functional.gelu"]
    assert reference_operators(describe_reference(PROBLEM).model_source) == ["F.gelu"]


# --- reading replies ------------------------------------------------------------------------------

OTHER = KERNEL.replace("BLOCK=1024", "BLOCK=2048")


def test_the_last_python_block_defining_modelnew_wins():
    reply = f"First try:\n```python\n{KERNEL}```\nBetter:\n```python\n{OTHER}```\nThe helper:\n```python\nx = 1\n```\n"
    parsed = parse_reply(reply)
    assert parsed.source == OTHER and parsed.reason == "python block 2 of 3"


def test_a_block_that_parses_is_preferred_to_a_later_one_that_does_not():
    broken = KERNEL.replace("def forward(self, x):", "def forward(self, x)")
    assert parse_reply(f"```python\n{KERNEL}```\n```python\n{broken}```").source == KERNEL


def test_a_broken_block_is_still_returned_when_it_is_the_only_one():
    broken = KERNEL.replace("def forward(self, x):", "def forward(self, x)")
    assert parse_reply(f"```python\n{broken}```").source == broken


def test_an_unterminated_fence_runs_to_the_end_and_says_so():
    parsed = parse_reply(f"Change: bigger blocks\n```python\n{KERNEL}")
    assert parsed.source == KERNEL
    assert "not closed" in parsed.reason
    assert parsed.change == "bigger blocks"


def test_untagged_and_py_tagged_blocks_count_and_other_languages_do_not():
    assert parse_reply(f"```\n{KERNEL}```").source == KERNEL
    assert parse_reply(f"```py\n{KERNEL}```").source == KERNEL
    parsed = parse_reply(f"```diff\n{KERNEL}```")
    assert parsed.source is None and "none defines ModelNew" in parsed.reason


def test_tritonmodel_is_accepted():
    source = KERNEL.replace("class ModelNew", "class TritonModel")
    assert parse_reply(f"```python\n{source}```").source == source


def test_a_reply_that_is_only_code_is_the_file():
    parsed = parse_reply(KERNEL)
    assert parsed.source == KERNEL and "no code fence" in parsed.reason


def test_a_reply_without_modelnew_has_no_source():
    assert parse_reply("```python\nprint('hello')\n```").source is None
    assert parse_reply("Use a bigger block.").reason == f"{NO_CODE}: the reply has no fenced code block"
    assert parse_reply("   ").reason == f"{NO_CODE}: the reply is empty"


def test_a_longer_fence_holds_a_shorter_one():
    source = KERNEL + '\nDOC = """\n```python\nexample\n```\n"""\n'
    assert parse_reply(f"````python\n{source}````").source == source


def test_the_change_line_may_be_bold_and_code_lines_are_not_read_as_it():
    parsed = parse_reply(f"**Change:** fuse the bias add.\n```python\n# change: not this\n{KERNEL}```")
    assert parsed.change == "fuse the bias add."


def test_a_runaway_reply_is_not_read_and_is_stored_cut():
    reply = f"```python\n{KERNEL}```\n" + "x" * (MAX_REPLY_CHARS + 1)
    parsed = parse_reply(reply)
    assert parsed.source is None and "over the limit" in parsed.reason
    kept = stored_reply(reply)
    assert len(kept) < MAX_REPLY_CHARS + 200 and kept.rstrip().endswith("characters]")


def test_a_kernel_over_the_size_limit_gives_no_source():
    huge = KERNEL + "\n" + "# padding\n" * (MAX_KERNEL_CHARS // 10)
    parsed = parse_reply(f"```python\n{huge}```")
    assert parsed.source is None and f"{MAX_KERNEL_CHARS:,}" in parsed.reason
