"""Retrieval over the knowledge base: relevant notes come first, the platform picks its vendor's
hardware notes and hides the others, users' trees join the search, and no query text can break it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kernelevolve.knowledge import KnowledgeBase, KnowledgeBaseError, build_query
from kernelevolve.platform import (
    CudaPlatform,
    InterpreterPlatform,
    MTIAPlatform,
    RocmPlatform,
)

AMD = "hardware/amd/"
NVIDIA = "hardware/nvidia/"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def paths(docs) -> list[str]:
    return [d.path for d in docs]


def test_out_of_bounds_query_finds_masking_guidance(kb):
    found = paths(kb.search("illegal memory access: out of bounds load, mask error on the tail", CudaPlatform(), k=3))
    assert "guidance/masking.md" in found


def test_h100_bandwidth_query_on_cuda_ranks_the_nvidia_note_first(kb):
    found = kb.search("H100 HBM bandwidth TB/s memory bound", CudaPlatform())
    assert found[0].path == "hardware/nvidia/h100-architecture.md"


@pytest.mark.parametrize("query", [
    "memory bandwidth of the GPU",
    "MI300X wavefront LDS matrix cores bandwidth",
    "num_warps num_stages tuning for a matmul",
    "waves_per_eu occupancy",
])
def test_cuda_search_returns_no_amd_notes(kb, query):
    assert not [p for p in paths(kb.search(query, CudaPlatform(), k=25)) if p.startswith(AMD)]


def test_rocm_search_ranks_the_amd_note_first_and_hides_nvidia(kb):
    found = paths(kb.search("memory bandwidth of the GPU", RocmPlatform(), k=25))
    assert found[0].startswith(AMD)
    assert not [p for p in found if p.startswith(NVIDIA)]


def test_other_vendor_notes_come_back_when_nothing_else_matches(kb):
    found = paths(kb.search("gfx942", CudaPlatform()))
    assert found and all(p.startswith(AMD) for p in found)


def test_documents_that_need_timing_are_retrieved_only_where_kernels_are_timed(kb):
    query = "performance roofline arithmetic intensity memory bound peak bandwidth TFLOP/s H100 MI300X"
    assert "guidance/performance-diagnosis.md" in paths(kb.search(query, CudaPlatform(), k=5))
    untimed = paths(kb.search(query, InterpreterPlatform(), k=40))
    assert untimed and not {"guidance/performance-diagnosis.md", "hardware/nvidia/h100-architecture.md",
                            "hardware/amd/mi300-architecture.md"} & set(untimed)


def test_a_user_index_can_mark_a_note_as_needing_timing(tmp_path):
    write(tmp_path, "notes/roofline.md", "# Our roofline\n\nWombat peaks.\n")
    write(tmp_path, "index.md", "# Team\n\n- `notes/roofline.md` — Peaks.\n  keywords: wombat\n  needs: timing\n")
    kb = KnowledgeBase.load([tmp_path])
    assert paths(kb.search("wombat", CudaPlatform())) == ["notes/roofline.md"]
    assert paths(kb.search("wombat", InterpreterPlatform())) == []


def test_interpreter_search_finds_the_cpu_note(kb):
    assert kb.search("TRITON_INTERPRET libdevice fails", InterpreterPlatform())[0].path == "hardware/cpu/triton-interpreter.md"


def test_mtia_search_finds_the_paper_note(kb):
    assert kb.search("cb_multiplier use_dual_core", MTIAPlatform())[0].path == "hardware/mtia/mtia-from-the-paper.md"


def test_results_are_ranked_and_limited_to_k(kb):
    found = kb.search("softmax reduction numerics", CudaPlatform(), k=3)
    assert len(found) == 3
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    assert all(d.score > 0 and d.source == "builtin" for d in found)


@pytest.mark.parametrize("query", [
    '"', "'", '"unbalanced', "AND", "OR NOT", "NEAR(a b", "*", "col:val", "title:mask", "^start",
    "{x y}", "()", "-", "a - b + c", "tl.dot(a, b)", "x[:, None] < N", "C++ -> foo; DROP TABLE docs;--",
    "ü∂ 中文 🚀", "__", "_", "a" * 5000, " ".join(["mask"] * 500), "\x00\n\t",
])
def test_fts_special_characters_never_break_search(kb, query):
    assert isinstance(kb.search(query, CudaPlatform()), list)


@pytest.mark.parametrize("query", ["", "   ", "?!", "the and of"])
def test_query_without_search_words_returns_nothing(kb, query):
    assert kb.search(query, CudaPlatform()) == []


def test_constraints_returns_the_constraints_documents(kb):
    found = kb.constraints()
    assert {"constraints/anti-cheat.md", "constraints/output-format.md"} <= set(paths(found))
    assert all(p.startswith("constraints/") for p in paths(found))


def test_index_is_the_map(kb):
    index = kb.index()
    assert index.path == "index.md"
    assert "guidance/masking.md" in index.text
    assert "index.md" not in paths(kb.documents())


def test_user_tree_documents_are_found_and_can_win(tmp_path):
    write(tmp_path, "guidance/zebra-masking.md",
          "# Zebra-striped masking\n\nUse this when masks alternate.\n\nZebra masks stripe every other lane.\n")
    kb = KnowledgeBase.load([tmp_path])
    found = kb.search("zebra striped masking", CudaPlatform())
    assert found[0].path == "guidance/zebra-masking.md"
    assert found[0].source == str(tmp_path)


def test_user_index_keywords_steer_ranking(tmp_path):
    write(tmp_path, "notes/plain.md", "# Plain note\n\nUse this when nothing else helps.\n")
    write(tmp_path, "index.md", "# Team index\n\n- `notes/plain.md` — A note.\n  keywords: quokkafusion\n")
    kb = KnowledgeBase.load([tmp_path])
    assert paths(kb.search("quokkafusion", CudaPlatform())) == ["notes/plain.md"]
    assert "quokkafusion" in kb.index().text


def test_unlisted_user_documents_appear_in_the_merged_index(tmp_path):
    write(tmp_path, "notes/extra.md", "# Extra tricks\n\nUse this when stuck.\n")
    kb = KnowledgeBase.load([tmp_path])
    assert "`notes/extra.md` — Extra tricks" in kb.index().text


def test_user_samples_are_searchable(tmp_path):
    write(tmp_path, "samples/wombat.py", '"""Wombat kernel.\n\nUse this when wombats."""\nimport triton\n')
    found = KnowledgeBase.load([tmp_path]).search("wombat", InterpreterPlatform())
    assert found[0].title == "Wombat kernel."


def test_user_document_replaces_the_builtin_one_at_the_same_path(tmp_path):
    write(tmp_path, "guidance/masking.md", "# Our masking rules\n\nUse this when masking.\n")
    kb = KnowledgeBase.load([tmp_path])
    masking = [d for d in kb.documents() if d.path == "guidance/masking.md"]
    assert len(masking) == 1 and masking[0].source == str(tmp_path)


def test_missing_user_directory_is_an_error(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="not found"):
        KnowledgeBase.load([tmp_path / "absent"])


def test_concurrent_searches_share_one_knowledge_base(kb):
    results: list[int] = []

    def search_many():
        for _ in range(20):
            results.append(len(kb.search("masking tail", CudaPlatform())))

    threads = [threading.Thread(target=search_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [5] * 80


def test_build_query_spells_out_status_operator_and_platform():
    query = build_query(["compile_error", "tl.dot K >= 16"], ["torch.nn.functional.softmax", "aten.mm"], RocmPlatform())
    words = query.split()
    assert {"compile", "constexpr", "dot", "16", "softmax", "mm", "amd"} <= set(words)
    assert len(words) == len(set(words))


def test_build_query_output_retrieves_relevant_guidance(kb):
    query = build_query(["mismatch", "float32 tolerance"], ["torch.matmul"], CudaPlatform())
    assert "guidance/numerics.md" in paths(kb.search(query, CudaPlatform(), k=5))


MATMUL_BY_OPERATOR = '''
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(256, 512))

    def forward(self, x):
        return (x @ self.w).relu()  # no torch.* call names the matmul: only the trace sees it


SHAPES = {"m1024": {"m": 1024}}


def get_inputs(m=1024):
    return [torch.randn(m, 256)]
'''


def test_the_problem_query_reads_the_aten_operators_the_reference_dispatches(kb, tmp_path):
    from kernelevolve.operators.universal import problem_query, reference_operators
    from kernelevolve.problem import load_problem
    from kernelevolve.reference import describe_reference, reference_aten_ops

    (tmp_path / "proj.py").write_text(MATMUL_BY_OPERATOR)
    problem = load_problem(tmp_path / "proj.py")
    facts = describe_reference(problem)
    assert not any("matmul" in op or "mm" in op for op in reference_operators(facts.model_source))
    assert reference_aten_ops(problem) == ["mm", "relu"]
    top = paths(kb.search(problem_query(problem, reference_aten_ops(problem), CudaPlatform()), CudaPlatform(), k=5))
    assert "samples/matmul.py" in top or "guidance/matmul.md" in top


JAGGED_SOFTMAX = '''
import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, values, offsets):
        lengths = (offsets[1:] - offsets[:-1]).tolist()
        return torch.cat([torch.softmax(seq, dim=0) for seq in torch.split(values, lengths)])


SHAPES = {"b8": {"batch": 8}}


def get_inputs(batch=8):
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(torch.randint(0, 9, (batch,)), 0)])
    return [torch.randn(int(offsets[-1]), 4), offsets]
'''


@pytest.mark.parametrize("platform", [CudaPlatform(), InterpreterPlatform()], ids=["cuda", "interpreter"])
def test_a_jagged_softmax_problem_finds_the_jagged_softmax_sample_and_guidance(kb, tmp_path, platform):
    from kernelevolve.operators.universal import problem_query, reference_operators
    from kernelevolve.problem import load_problem
    from kernelevolve.reference import describe_reference, reference_aten_ops

    (tmp_path / "jagged_softmax.py").write_text(JAGGED_SOFTMAX)
    problem = load_problem(tmp_path / "jagged_softmax.py")
    operators = [*reference_operators(describe_reference(problem).model_source), *reference_aten_ops(problem)]
    top = paths(kb.search(problem_query(problem, operators, platform), platform, k=5))
    assert {"samples/jagged_softmax.py", "guidance/jagged-tensors.md"} <= set(top)


def test_a_source_tree_gives_its_triton_kernels_and_docs_and_finds_by_string_regex_and_name(tmp_path):
    kernel = '"""Fused layer norm.\n\nOur production kernel."""\nimport triton\nimport triton.language as tl\n\nBLOCK = 1024\n'
    write(tmp_path, "ops/fused_layer_norm.py", kernel)
    write(tmp_path, "ops/helpers.py", "def pad(x):\n    return x\n")  # Python, but no kernel
    write(tmp_path, "docs/norms.md", "# Norm kernels\n\nHow our norms are tuned.\n")
    write(tmp_path, ".venv/lib/triton_copy.py", "import triton\n")
    write(tmp_path, "build/generated.py", "import triton\n")
    (tmp_path / "ops" / "blob.py").write_bytes(b"import triton\n\xff\xfe")
    write(tmp_path, "ops/huge.py", "import triton\n" + "#" * 300_000)
    kb = KnowledgeBase.load([tmp_path])
    mine = sorted(d.path for d in kb.documents() if d.source == str(tmp_path))
    assert mine == ["docs/norms.md", "ops/fused_layer_norm.py"]
    assert paths(kb.find("BLOCK = 1024")) == ["ops/fused_layer_norm.py"]
    assert paths(kb.find(r"^BLOCK = \d+$", by="regex")) == ["ops/fused_layer_norm.py"]
    assert paths(kb.find("*layer_norm*", by="name")) == ["ops/fused_layer_norm.py"]
    with pytest.raises(KnowledgeBaseError, match="bad regular expression"):
        kb.find("(", by="regex")


def test_a_users_kernel_named_after_the_problem_comes_first(tmp_path):
    import random

    from kernelevolve.graph import Graph
    from kernelevolve.operators.base import ExpansionContext
    from kernelevolve.operators.universal import UniversalOperator
    from kernelevolve.problem import load_problem

    write(tmp_path / "tree", "kernels/wombat_gelu_fast.py", '"""Our GELU."""\nimport triton\n')
    problem = load_problem(Path(__file__).parents[1] / "operators" / "data" / "gelu_problem.py")
    operator = UniversalOperator(llm=None, knowledge=KnowledgeBase.load([tmp_path / "tree"]))  # type: ignore[arg-type]
    ctx = ExpansionContext(problem, None, Graph([]), InterpreterPlatform(), random.Random(0))
    docs = operator.problem_documents(ctx, ["F.gelu"])
    assert docs[0].path == "kernels/wombat_gelu_fast.py" and len(docs) == operator.problem_k
