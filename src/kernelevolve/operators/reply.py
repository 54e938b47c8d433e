"""Reading an LLM reply: the kernel file it holds (a fenced python block that defines ModelNew or
TritonModel) and the one-line ``Change:`` summary the prompt asks for. Replies and kernels are
bounded: a runaway generation must not become a kernel file, nor the next prompt."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from kernelevolve.problem import CANDIDATE_CLASSES

PYTHON_TAGS = ("", "python", "py", "python3")
MAX_CHANGE_CHARS = 200
NO_CODE = "no python code block defining ModelNew"
# A kernel file is a few KB (the largest knowledge-base sample is under 10 KB), and a reply within
# max_tokens a few tens of KB; ten times that is a generation that ran away.
MAX_KERNEL_CHARS = 100_000
MAX_REPLY_CHARS = 400_000

# An opening fence: up to three spaces, three or more backticks or tildes, then an info string.
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_DEFINES_MODEL = re.compile(rf"^class\s+(?:{'|'.join(CANDIDATE_CLASSES)})\b", re.MULTILINE)
_CHANGE = re.compile(r"^\W*change\W*:\s*\**\s*(?P<text>\S.*)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class ParsedReply:
    """The kernel source (None when the reply holds no usable code), where it came from or why it
    is missing, and the reply's own one-line summary of the change ('' if it gave none)."""

    source: str | None
    reason: str
    change: str = ""


@dataclass(frozen=True)
class CodeBlock:
    info: str  # the language tag, lower case ('' for an untagged fence)
    text: str
    closed: bool  # False when the reply ended inside the block (cut off at max_tokens?)

    @property
    def is_python(self) -> bool:
        return self.info in PYTHON_TAGS


def parse_reply(text: str) -> ParsedReply:
    """The kernel file of a reply: the last python block that defines the model class (one that
    parses preferred over one that does not), else the whole reply if it is such a file itself.
    A reply over MAX_REPLY_CHARS, or a kernel over MAX_KERNEL_CHARS, gives no source."""
    if len(text) > MAX_REPLY_CHARS:
        return ParsedReply(None, f"the reply has {len(text):,} characters, over the limit of {MAX_REPLY_CHARS:,}: "
                                 "not read (a runaway generation?)")
    parsed = _parse_bounded(text)
    if parsed.source is not None and len(parsed.source) > MAX_KERNEL_CHARS:
        return ParsedReply(None, f"the kernel in the reply ({parsed.reason}) has {len(parsed.source):,} "
                                 f"characters, over the limit of {MAX_KERNEL_CHARS:,}", parsed.change)
    return parsed


def stored_reply(text: str) -> str:
    """The reply as it is kept with the node: at most MAX_REPLY_CHARS, saying what was cut."""
    if len(text) <= MAX_REPLY_CHARS:
        return text
    return text[:MAX_REPLY_CHARS] + f"\n\n[kernelevolve: cut here; the reply had {len(text):,} characters]\n"


def _parse_bounded(text: str) -> ParsedReply:
    blocks = fenced_blocks(text)
    prose = _outside_blocks(text, blocks)
    change = _change_line(prose)
    candidates = [b for b in blocks if b.is_python and defines_model(b.text)]
    if candidates:
        parsing = [b for b in candidates if _parses(b.text)]
        chosen = (parsing or candidates)[-1]
        position = f"python block {blocks.index(chosen) + 1} of {len(blocks)}"
        note = "" if chosen.closed else "; its fence is not closed (the reply may be cut off)"
        return ParsedReply(_as_file(chosen.text), position + note, change)
    if not blocks and defines_model(text) and _parses(text):
        return ParsedReply(_as_file(text), "the whole reply is the file (no code fence)", change)
    return ParsedReply(None, _why_no_code(text, blocks), change)


def fenced_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block in order; an unclosed fence runs to the end of the text."""
    blocks: list[CodeBlock] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        i += 1
        if opening is None:
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        closed = False
        while i < len(lines):
            line = lines[i]
            i += 1
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                closed = True
                break
            body.append(line[indent:] if line[:indent].isspace() else line)
        blocks.append(CodeBlock(opening["info"].lower(), "\n".join(body), closed))
    return blocks


def defines_model(source: str) -> bool:
    """Whether ``source`` defines the model class at module level (by text when it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # ValueError: null bytes, on Python < 3.12
        return bool(_DEFINES_MODEL.search(source))
    return any(isinstance(node, ast.ClassDef) and node.name in CANDIDATE_CLASSES for node in tree.body)


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def _as_file(source: str) -> str:
    return source.strip("\n").rstrip() + "\n"


def _outside_blocks(text: str, blocks: list[CodeBlock]) -> str:
    for block in blocks:
        text = text.replace(block.text, "")
    return text


def _change_line(prose: str) -> str:
    found = _CHANGE.search(prose)
    if found is None:
        return ""
    line = found["text"].strip().strip("*").strip()
    return line if len(line) <= MAX_CHANGE_CHARS else line[: MAX_CHANGE_CHARS - 1] + "…"


def _why_no_code(text: str, blocks: list[CodeBlock]) -> str:
    if not text.strip():
        return f"{NO_CODE}: the reply is empty"
    if not blocks:
        return f"{NO_CODE}: the reply has no fenced code block"
    python = [b for b in blocks if b.is_python]
    return f"{NO_CODE}: {len(blocks)} code block(s), {len(python)} tagged python, none defines ModelNew"
