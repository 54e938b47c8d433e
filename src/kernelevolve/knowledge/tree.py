"""Read one knowledge tree from disk: its documents (.md notes and .py samples), their titles and
purpose lines, and the entries of its index.md map.

A tree may be a whole source tree (a user's repository): of its Python files only those that import
Triton are read (its kernels), with its markdown docs; hidden, build and environment folders, files
over 256 kB and files that are not UTF-8 are passed over, and at most 2,000 documents are read."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from pathlib import Path

DOCUMENT_SUFFIXES = (".md", ".py")
INDEX_NAME = "index.md"
SKIPPED_DIRS = frozenset({"node_modules", "site-packages", "build", "dist", "venv", "env"})
MAX_FILE_BYTES = 256_000
MAX_DOCUMENTS = 2_000
_IMPORTS_TRITON = re.compile(r"^\s*(?:import triton\b|from triton\b)", re.MULTILINE)

# An index entry is a list item naming a document, in backticks or as a link, then its description:
#   - `guidance/masking.md` — Masks and boundary handling …
#     keywords: mask, out of bounds, tail
#     needs: timing        (what a platform must offer for the document to matter)
_ENTRY = re.compile(
    r"^\s*[-*]\s+(?:`(?P<code>[^`]+)`|\[[^\]]*\]\((?P<link>[^)\s]+)\))\s*(?:[—–:-]+\s*)?(?P<desc>.*)$"
)
_KEYWORDS = re.compile(r"^\s+(?:keywords|topics)\s*:\s*(?P<words>.+)$", re.IGNORECASE)
_NEEDS = re.compile(r"^\s+needs\s*:\s*(?P<what>.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Document:
    """One document of a knowledge tree; ``score`` is its relevance to the query that returned it."""

    path: str  # relative to its tree, '/'-separated: 'guidance/masking.md'
    title: str
    text: str
    score: float = 0.0
    source: str = "builtin"  # 'builtin' for the shipped tree, otherwise the user's directory


@dataclass(frozen=True)
class IndexEntry:
    """What index.md says about one document: a one-line description, its keywords, and what a
    platform must offer for it to matter (``timing``: roofline and tuning notes, of no use where
    nothing is timed)."""

    path: str
    description: str
    keywords: tuple[str, ...]
    needs: tuple[str, ...] = ()


def read_tree(root: Path, source: str) -> tuple[list[Document], Document | None]:
    """The documents under ``root`` sorted by path, and the tree's index.md when it has one."""
    documents: list[Document] = []
    index: Document | None = None
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root)
        if not file.is_file() or file.suffix not in DOCUMENT_SUFFIXES or _hidden(relative):
            continue
        if len(documents) >= MAX_DOCUMENTS or file.stat().st_size > MAX_FILE_BYTES:
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):  # unreadable or not text: not a document
            continue
        if file.suffix == ".py" and not _IMPORTS_TRITON.search(text):
            continue  # Python that is not a Triton kernel
        doc = Document(path=relative.as_posix(), title=title_of(relative.as_posix(), text), text=text, source=source)
        if doc.path == INDEX_NAME:
            index = doc
        else:
            documents.append(doc)
    return documents, index


def parse_index(text: str) -> dict[str, IndexEntry]:
    """The documents an index.md lists, by path, with the keyword line indented under each entry."""
    entries: dict[str, IndexEntry] = {}
    current: IndexEntry | None = None
    for line in text.splitlines():
        entry = _ENTRY.match(line)
        if entry:
            path = (entry["code"] or entry["link"]).strip()
            current = None
            if path.endswith(DOCUMENT_SUFFIXES):
                current = IndexEntry(path=path, description=entry["desc"].strip(), keywords=())
                entries[path] = current
            continue
        keywords, needs = _KEYWORDS.match(line), _NEEDS.match(line)
        if keywords and current is not None:
            words = tuple(w.strip() for w in keywords["words"].split(",") if w.strip())
            current = replace(current, keywords=current.keywords + words)
            entries[current.path] = current
        elif needs and current is not None:
            what = tuple(w.strip().lower() for w in needs["what"].split(",") if w.strip())
            current = replace(current, needs=current.needs + what)
            entries[current.path] = current
        elif line.strip() and not line.startswith((" ", "\t")):
            current = None
    return entries


def title_of(path: str, text: str) -> str:
    """A note's '# Title' line, a sample's first docstring line; the file name when neither exists."""
    if path.endswith(".py"):
        first = _docstring(text).strip().splitlines()
        return first[0].strip() if first else Path(path).stem
    first = text.strip().splitlines()
    if first and first[0].startswith("#"):
        return first[0].lstrip("#").strip()
    return Path(path).stem


def purpose_of(path: str, text: str) -> str:
    """The paragraph after the title, which says when a reader needs the document ('' if missing)."""
    head = _docstring(text) if path.endswith(".py") else text
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", head.strip()) if p.strip()]
    return " ".join(paragraphs[1].split()) if len(paragraphs) > 1 else ""


def _docstring(source: str) -> str:
    try:
        return ast.get_docstring(ast.parse(source)) or ""
    except SyntaxError:  # a user's broken sample is still indexed, under its file name
        return ""


def _hidden(relative: Path) -> bool:
    return any(part.startswith((".", "__")) or part in SKIPPED_DIRS for part in relative.parts[:-1]) or \
        relative.name.startswith((".", "__"))
