"""The object store: the files of each node (kernel source, result, overview, extra text objects).

Layout under the root::

    STORE_ID                                   which database this directory belongs to
    runs/<run_name>/nodes/<node_id>/kernel.py
                                   result.json
                                   overview.md
                                   <name>                  extra objects: prompt.md, reply.md …

Node ids are reserved in the database before any file is written (``Store.reserve_node_ids``), so
a node's files are complete on disk before the row that names them is committed: a row never
points at a missing file. A crash in between leaves a directory no row names, which is harmless.
Each file is written under a temporary name, flushed to disk, then renamed into place.

Node ids are unique per database, not across databases, so two databases must not share a
directory: ``bind`` records the database's store id in ``STORE_ID`` and refuses a different one.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidRecordError, ObjectMissingError, ObjectRootMismatchError, StoreError

KERNEL = "kernel.py"
RESULT = "result.json"
OVERVIEW = "overview.md"
STORE_ID_FILE = "STORE_ID"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: str, what: str) -> str:
    """A name that is safe as one path segment: letters, digits, '.', '_', '-', not hidden."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRecordError(
            f"{what} {name!r} is not a valid name: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_extra_names(names: list[str]) -> None:
    for name in names:
        check_name(name, "object name")
        if name in (KERNEL, RESULT, OVERVIEW):
            raise InvalidRecordError(f"object name {name!r} is reserved for the node's own file")


@dataclass(frozen=True)
class NodeFiles:
    """Where one node's files were written, relative to the object root (POSIX separators)."""

    kernel: str
    result: str
    overview: str
    extra: tuple[str, ...]


class ObjectStore:
    """A directory tree of node files; paths in the database are relative to ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def bind(self, store_id: str) -> None:
        """Claim this directory for the database ``store_id``, or refuse one claimed by another."""
        self.refuse_non_directory()
        marker = self.root / STORE_ID_FILE
        try:
            if not marker.exists():
                self.root.mkdir(parents=True, exist_ok=True)
                _write_atomically(marker, store_id)
        except OSError as exc:
            raise StoreError(f"cannot create the object directory {self.root}: {exc.strerror}; pass --objects "
                             "(or set KERNELEVOLVE_OBJECTS) to a directory you can write") from exc
        self._refuse_other(marker.read_text().strip(), store_id)

    def check(self, store_id: str) -> None:
        """What ``bind`` checks, without creating or writing anything (read-only commands)."""
        self.refuse_non_directory()
        marker = self.root / STORE_ID_FILE
        if marker.is_file():
            self._refuse_other(marker.read_text().strip(), store_id)

    def refuse_non_directory(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"the object directory {self.root} is a file, not a directory: pass --objects "
                             "(or set KERNELEVOLVE_OBJECTS) to a directory")

    def _refuse_other(self, found: str, store_id: str) -> None:
        if found != store_id:
            raise ObjectRootMismatchError(
                f"object directory {self.root} belongs to another kernelevolve database "
                f"(store id {found}, this one is {store_id}); open this store with another root, "
                "or move that directory away"
            )

    def write_node(
        self,
        run_name: str,
        node_id: int,
        source: str,
        result: dict[str, Any],
        overview: str,
        extra: dict[str, str],
    ) -> NodeFiles:
        """Write all files of one node; return their relative paths."""
        folder = f"runs/{check_name(run_name, 'run name')}/nodes/{int(node_id)}"
        (self.root / folder).mkdir(parents=True, exist_ok=True)
        contents = {KERNEL: source, RESULT: json.dumps(result, indent=2), OVERVIEW: overview}
        contents.update(extra)
        for name, text in contents.items():
            _write_atomically(self.root / folder / name, text)
        return NodeFiles(
            kernel=f"{folder}/{KERNEL}",
            result=f"{folder}/{RESULT}",
            overview=f"{folder}/{OVERVIEW}",
            extra=tuple(f"{folder}/{name}" for name in extra),
        )

    def path(self, relative: str) -> Path:
        return self.root / relative


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ObjectMissingError(
            f"object file {path} is missing: every process that shares a store must see the same "
            "object directory (--objects or KERNELEVOLVE_OBJECTS, e.g. on NFS)"
        ) from exc


def read_json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(read_text(path))
    return loaded


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
