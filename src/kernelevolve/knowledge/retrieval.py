"""Retrieval over the knowledge base: the shipped tree plus users' trees, ranked by SQLite FTS5 bm25.

Index-guided: what index.md says about a document (its description and keywords) is indexed beside
the document in a column of its own, weighted above the body, so the map steers the ranking. The
target platform lifts its own vendor's hardware notes and hides other vendors' notes; a platform
that times nothing never gets the documents the map says need timing (rooflines, peak figures).
"""

from __future__ import annotations

import fnmatch
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from kernelevolve.knowledge.tree import (
    INDEX_NAME,
    Document,
    IndexEntry,
    parse_index,
    read_tree,
)
from kernelevolve.platform import Platform

BUILTIN_ROOT = Path(__file__).with_name("base")
BUILTIN_SOURCE = "builtin"

VENDOR_BOOST = 1.5
# bm25 weights of the FTS columns: title, map (path, index description and keywords), body.
COLUMN_WEIGHTS = (4.0, 3.0, 1.0)
MAX_QUERY_TERMS = 64
STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from has have how i if in into is it its of on or so "
    "than that the their then there these this to was what when where which while with without".split()
)

# How a harness status reads as search words (statuses are listed in DESIGN.md).
STATUS_TERMS = {
    "syntax_error": "syntax error output format python block",
    "compile_error": "compile error compilation constexpr shape",
    "runtime_error": "runtime error illegal memory access out of bounds mask",
    "mismatch": "mismatch wrong result numerics tolerance precision mask",
    "timeout": "timeout hang slow loop grid",
    "crash": "crash illegal memory access out of bounds",
    "rejected": "rejected constraints anti cheat rules",
}
# What an ATen operator (as a reference's trace names it) reads as in the knowledge base's words.
ATEN_TERMS = {
    "addmm": "matmul gemm linear", "mm": "matmul gemm", "bmm": "matmul batched gemm", "matmul": "matmul gemm",
    "baddbmm": "matmul batched", "_softmax": "softmax reduction", "_log_softmax": "softmax reduction",
    "native_layer_norm": "layernorm normalization reduction", "convolution": "conv convolution",
    "cumsum": "scan cumsum prefix sum", "searchsorted": "searchsorted binary search bucketize",
    "sum": "reduction sum", "mean": "reduction mean", "amax": "reduction max", "max": "reduction max",
    "rsqrt": "rsqrt normalization", "index_select": "gather index jagged", "index": "gather index",
    "gather": "gather index", "scatter_add": "scatter", "repeat_interleave": "jagged offsets lengths",
    "embedding": "embedding gather", "gelu": "gelu activation elementwise", "relu": "activation elementwise",
    "sigmoid": "activation elementwise", "tanh": "activation elementwise",
}


class KnowledgeBaseError(Exception):
    """A knowledge tree cannot be loaded, or this Python's SQLite cannot index it."""


class KnowledgeBase:
    """The documents of every loaded tree, searchable; build one with :meth:`load`."""

    def __init__(self, documents: list[Document], entries: dict[str, IndexEntry], index: Document):
        self._documents = documents
        self._index = index
        self._needs_timing = {path for path, entry in entries.items() if "timing" in entry.needs}
        self._lock = threading.Lock()  # one connection, shared by the threads of a search
        self._db = _fts_database(documents, entries)

    @classmethod
    def load(cls, extra_dirs: Iterable[Path | str] = ()) -> KnowledgeBase:
        """The shipped tree plus users' trees, in order: a later tree's document or index entry
        replaces an earlier one at the same relative path."""
        trees = [(BUILTIN_ROOT, BUILTIN_SOURCE)] + [(Path(d), str(d)) for d in extra_dirs]
        by_path: dict[str, Document] = {}
        entries: dict[str, IndexEntry] = {}
        index_parts: list[str] = []
        for root, source in trees:
            if not root.is_dir():
                raise KnowledgeBaseError(f"knowledge directory not found: {root}")
            documents, index = read_tree(root, source)
            listed = parse_index(index.text) if index else {}
            entries.update(listed)
            by_path.update((doc.path, doc) for doc in documents)
            index_parts.append(_index_section(source, index, documents, listed))
        index_doc = Document(path=INDEX_NAME, title=_first_line(index_parts[0]), text="\n\n".join(index_parts))
        return cls(sorted(by_path.values(), key=lambda d: d.path), entries, index_doc)

    def search(self, query: str, platform: Platform, k: int = 5) -> list[Document]:
        """The ``k`` documents that best match ``query`` for ``platform``, best first.

        Other vendors' hardware notes come back only when nothing else matches; documents that need
        timing never come back for a platform without it.
        """
        vendor = platform.vendor
        match = _match_expression(query)
        if k <= 0 or not match:
            return []
        weights = ", ".join(str(w) for w in COLUMN_WEIGHTS)
        with self._lock:
            rows = self._db.execute(
                f"SELECT rowid, bm25(docs, {weights}) FROM docs WHERE docs MATCH ?", (match,)
            ).fetchall()
        scored = []
        for rowid, rank in rows:
            doc = self._documents[rowid]
            if not platform.timed and doc.path in self._needs_timing:
                continue
            doc_vendor = _vendor_of(doc.path)
            relevance = -rank * (VENDOR_BOOST if doc_vendor == vendor else 1.0)
            scored.append((relevance, doc_vendor in (None, vendor), doc))
        own = [s for s in scored if s[1]]
        ranked = sorted(own or scored, key=lambda s: (-s[0], s[2].path))
        return [replace(doc, score=relevance) for relevance, _, doc in ranked[:k]]

    def find(self, pattern: str, by: str = "string") -> list[Document]:
        """Documents, by path, whose text holds ``pattern`` (``by="string"``, ignoring case), whose
        text matches it (``by="regex"``), or whose file name matches it (``by="name"``, a glob such
        as ``*softmax*``). A bad regex raises KnowledgeBaseError."""
        if by == "string":
            needle = pattern.lower()
            return [d for d in self._documents if needle in d.text.lower()]
        if by == "regex":
            try:
                compiled = re.compile(pattern, re.MULTILINE)  # ^ and $ at each line, as grep reads them
            except re.error as exc:
                raise KnowledgeBaseError(f"bad regular expression {pattern!r}: {exc}") from exc
            return [d for d in self._documents if compiled.search(d.text)]
        if by == "name":
            return [d for d in self._documents if fnmatch.fnmatch(d.path.rpartition("/")[2].lower(), pattern.lower())]
        raise ValueError(f"find by string, regex or name, not {by!r}")

    def platform_notes(self, platform: Platform) -> list[Document]:
        """The hardware notes of ``platform``'s vendor it can use (those that need timing only on a
        timed platform), by path."""
        return [d for d in self._documents if _vendor_of(d.path) == platform.vendor
                and (platform.timed or d.path not in self._needs_timing)]

    def constraints(self) -> list[Document]:
        """Every document under constraints/: the rules each candidate must follow."""
        return [d for d in self._documents if d.path.startswith("constraints/")]

    def index(self) -> Document:
        """The map: the shipped index.md followed by each user tree's index (or a listing of it)."""
        return self._index

    def documents(self) -> list[Document]:
        """Every searchable document (index.md excluded), by path."""
        return list(self._documents)


def build_query(diagnosis_terms: list[str], operators: list[str], platform: Platform) -> str:
    """Search words for a diagnosis (harness statuses are spelled out), the operators involved and
    the platform."""
    words: list[str] = []
    for term in diagnosis_terms:
        words += _words(term)
        words += STATUS_TERMS.get(term.strip().lower(), "").split()
    for op in operators:
        name = re.sub(r"^(torch\.nn\.functional|torch\.nn|torch|aten|F)\.", "", op.strip())
        words += _words(name) + ATEN_TERMS.get(name, "").split()
    words += platform.search_terms.split()
    return " ".join(dict.fromkeys(w for w in words if w))


def _fts_database(documents: list[Document], entries: dict[str, IndexEntry]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        db.execute("CREATE VIRTUAL TABLE docs USING fts5(title, map, body, tokenize = 'porter unicode61')")
    except sqlite3.OperationalError as exc:
        raise KnowledgeBaseError(f"this Python's SQLite has no FTS5 full-text search: {exc}") from exc
    for rowid, doc in enumerate(documents):
        entry = entries.get(doc.path)
        map_text = " ".join([doc.path, entry.description, ", ".join(entry.keywords)] if entry else [doc.path])
        db.execute("INSERT INTO docs(rowid, title, map, body) VALUES (?, ?, ?, ?)", (rowid, doc.title, map_text, doc.text))
    return db


def _match_expression(query: str) -> str:
    """An FTS5 query that ORs the query's words, each quoted so no text is read as FTS syntax."""
    terms = [t for t in _words(query) if len(t) > 1 and t not in STOPWORDS and re.search(r"[^\W_]", t)]
    return " OR ".join(f'"{t}"' for t in list(dict.fromkeys(terms))[:MAX_QUERY_TERMS])


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())




def _vendor_of(path: str) -> str | None:
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "hardware" else None


def _index_section(source: str, index: Document | None, documents: list[Document], listed: dict[str, IndexEntry]) -> str:
    """One tree's part of the merged map; documents its index.md leaves out are listed by title."""
    parts = [] if source == BUILTIN_SOURCE else [f"# Index of {source}"]
    if index is not None:
        parts.append(index.text.strip())
    unlisted = [d for d in documents if d.path not in listed]
    if unlisted and source != BUILTIN_SOURCE:
        parts.append("\n".join(f"- `{d.path}` — {d.title}" for d in unlisted))
    return "\n\n".join(parts)


def _first_line(text: str) -> str:
    return next((line.lstrip("#").strip() for line in text.splitlines() if line.strip()), "Knowledge base index")
