"""Timing input sets, placed in a candidate worker's evaluation directory one at a time.

The reference worker draws each timed shape's input sets once and saves them beside their
reference outputs (``<set id>.in.pt``). While a candidate is timed, the harness copies set k into
the evaluation directory only when the worker asks for it, after removing the set before it: no
later set exists where the candidate could read it while an earlier one is timed, and the worker
reads a file instead of drawing the set again while it holds the GPU.

The directory is the candidate's to write, so the harness never follows a name in it: it works
through a descriptor of the directory it created, removes whatever the candidate left under the
set's name, and creates the file exclusively (``O_EXCL | O_NOFOLLOW``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

COPY_CHUNK = 4 << 20


def set_file(set_id: str) -> str:
    """The name of a timing set's inputs in a reference directory."""
    return f"{set_id}.in.pt"


class SetFeeder:
    """Places the sets of ``set_ids`` from ``references`` into ``work``, each once, on request."""

    def __init__(self, references: Path, work: Path, set_ids: list[str]):
        self.references = references
        self.work = work
        self.allowed = frozenset(set_ids)
        self.placed: set[str] = set()
        self.current: str | None = None
        self._dir = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)

    def __enter__(self) -> SetFeeder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def place(self, set_id: Any) -> dict[str, Any]:
        """The reply to a worker's request for one set: where it lies, or why it was refused."""
        if not isinstance(set_id, str) or set_id not in self.allowed:
            return {"op": "refused", "reason": f"{set_id!r} is not a timing set of this evaluation"}
        if set_id in self.placed:
            return {"op": "refused", "reason": f"timing set {set_id} was placed once already"}
        self._remove_current()
        name = f"timing-{set_id}.pt"
        try:
            self._remove(name)  # whatever the candidate left there: a file, a link
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=self._dir)
        except OSError as exc:  # a directory planted under the name, or one raced in: not followed
            return {"op": "refused", "reason": f"timing set {set_id} could not be placed: {exc.strerror}"}
        with open(self.references / set_file(set_id), "rb") as source, os.fdopen(fd, "wb") as target:
            shutil.copyfileobj(source, target, COPY_CHUNK)
        self.placed.add(set_id)
        self.current = name
        return {"op": "fed", "path": str(self.work / name)}

    def _remove(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self._dir)
        except FileNotFoundError:
            pass

    def _remove_current(self) -> None:
        if self.current is not None:
            try:
                self._remove(self.current)
            except OSError:  # replaced by a directory since: removed with the evaluation directory
                pass
            self.current = None

    def close(self) -> None:
        if self._dir >= 0:
            self._remove_current()
            os.close(self._dir)
            self._dir = -1
