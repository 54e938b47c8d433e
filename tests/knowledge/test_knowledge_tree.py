"""The shipped knowledge tree is well-formed: the index and the documents agree, every document says
what it is and when to read it, and the samples are complete candidate files."""

from __future__ import annotations

import ast

import pytest

from kernelevolve.knowledge.retrieval import BUILTIN_ROOT
from kernelevolve.knowledge.tree import (
    INDEX_NAME,
    parse_index,
    purpose_of,
    read_tree,
    title_of,
)

DOCUMENTS, INDEX = read_tree(BUILTIN_ROOT, "builtin")
ENTRIES = parse_index(INDEX.text) if INDEX else {}
NOTES = [d for d in DOCUMENTS if d.path.endswith(".md")]
SAMPLES = [d for d in DOCUMENTS if d.path.endswith(".py")]


def test_shipped_tree_has_an_index():
    assert INDEX is not None and INDEX.path == INDEX_NAME


def test_index_lists_every_document():
    unlisted = sorted({d.path for d in DOCUMENTS} - set(ENTRIES))
    assert not unlisted, f"documents missing from index.md: {unlisted}"


def test_every_listed_document_exists():
    missing = sorted(set(ENTRIES) - {d.path for d in DOCUMENTS})
    assert not missing, f"index.md lists documents that do not exist: {missing}"


@pytest.mark.parametrize("path", sorted(ENTRIES))
def test_index_entry_has_description_and_keywords(path):
    entry = ENTRIES[path]
    assert len(entry.description) > 20
    assert len(entry.keywords) >= 5


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: d.path)
def test_document_has_title_and_purpose(doc):
    assert doc.title and doc.title != doc.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    assert purpose_of(doc.path, doc.text).startswith("Use this when")


@pytest.mark.parametrize("doc", NOTES, ids=lambda d: d.path)
def test_note_is_substantial_and_readable_in_one_sitting(doc):
    assert 30 <= len(doc.text.splitlines()) <= 120


def test_tree_covers_every_part_of_the_layout():
    folders = {d.path.rsplit("/", 1)[0] for d in DOCUMENTS}
    assert {"constraints", "guidance", "samples"} <= folders
    assert {f"hardware/{vendor}" for vendor in ("nvidia", "amd", "mtia", "cpu")} <= folders


@pytest.mark.parametrize("doc", SAMPLES, ids=lambda d: d.path)
def test_sample_is_a_complete_candidate_file(doc):
    tree = ast.parse(doc.text)
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    kernels = [
        n for n in tree.body
        if isinstance(n, ast.FunctionDef) and any("jit" in ast.unparse(d) for d in n.decorator_list)
    ]
    imports = {alias.name for n in tree.body if isinstance(n, ast.Import) for alias in n.names}
    assert "ModelNew" in classes and "Model" not in classes
    assert kernels
    assert {"torch", "triton", "triton.language"} <= imports


def test_index_entries_parse_from_backticks_and_links():
    text = (
        "# Index\n\n"
        "- `guidance/a.md` — About A.\n"
        "  keywords: alpha, beta\n"
        "  needs: timing\n"
        "- [B notes](notes/b.md): About B.\n"
        "  topics: gamma\n"
        "- not a document entry\n"
        "  keywords: ignored\n"
    )
    entries = parse_index(text)
    assert set(entries) == {"guidance/a.md", "notes/b.md"}
    assert entries["guidance/a.md"].description == "About A."
    assert entries["guidance/a.md"].keywords == ("alpha", "beta")
    assert entries["notes/b.md"].keywords == ("gamma",)
    assert entries["guidance/a.md"].needs == ("timing",) and entries["notes/b.md"].needs == ()


def test_titles_fall_back_to_the_file_name():
    assert title_of("notes/plain.md", "no heading here\n") == "plain"
    assert title_of("samples/broken.py", "def (:\n") == "broken"
    assert title_of("samples/ok.py", '"""Fast thing.\n\nUse this when..."""\n') == "Fast thing."
