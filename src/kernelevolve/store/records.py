"""The plain records the store hands out (runs, nodes, summaries), in the forms the CLI prints
and the search graph reads; the node it is handed in is ``kernelevolve.graph.NewNode``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kernelevolve.graph import NodeView

from .errors import InvalidRecordError
from .objects import ObjectStore, read_json, read_text


def check_json(value: Any, what: str) -> Any:
    """Refuse what a JSON column cannot hold the same way on every backend (NaN, infinity…)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRecordError(f"{what} cannot be stored as JSON: {exc}") from exc
    return value


def check_score(score: float) -> float:
    if math.isnan(score):
        raise InvalidRecordError("score is NaN: record a failure as score 0 and is_buggy=True")
    return float(score)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; the store writes them all in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class RunRecord:
    id: int
    name: str
    problem_path: str
    problem_hash: str
    platform: str
    config: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> RunRecord:
        return cls(
            id=row["id"],
            name=row["name"],
            problem_path=row["problem_path"],
            problem_hash=row["problem_hash"],
            platform=row["platform"],
            config=row["config"],
            status=row["status"],
            created_at=as_utc(row["created_at"]),
            updated_at=as_utc(row["updated_at"]),
        )

    def to_json(self) -> dict[str, Any]:
        """The run as ``show --json`` and ``list --json`` print it."""
        return {"id": self.id, "name": self.name, "problem_path": self.problem_path,
                "problem_hash": self.problem_hash, "platform": self.platform, "status": self.status,
                "config": self.config, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class RunSummary:
    """A run with what a listing shows about its nodes."""

    run: RunRecord
    node_count: int
    buggy_count: int
    best_score: float | None  # highest score among non-buggy nodes; None if there are none


@dataclass(frozen=True)
class NodeRecord:
    """One stored node; paths are absolute, resolved against the store's object root."""

    id: int
    run_id: int
    parent_id: int | None
    score: float
    is_buggy: bool
    status: str
    operator: str
    source_hash: str
    kernel_path: Path
    result_path: Path
    overview_path: Path
    objects: dict[str, Path]  # extra named objects: prompt.md, reply.md …
    metrics: dict[str, Any]
    tags: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], objects: ObjectStore) -> NodeRecord:
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            parent_id=row["parent_id"],
            score=row["score"],
            is_buggy=bool(row["is_buggy"]),
            status=row["status"],
            operator=row["operator"],
            source_hash=row["source_hash"],
            kernel_path=objects.path(row["kernel_path"]),
            result_path=objects.path(row["result_path"]),
            overview_path=objects.path(row["overview_path"]),
            objects={Path(p).name: objects.path(p) for p in row["objects"]},
            metrics=row["metrics"],
            tags=row["tags"],
            created_at=as_utc(row["created_at"]),
        )

    def to_json(self) -> dict[str, Any]:
        """The node as ``show --json`` and ``lineage --json`` print it (paths as text)."""
        return {"id": self.id, "run_id": self.run_id, "parent_id": self.parent_id, "score": self.score,
                "is_buggy": self.is_buggy, "status": self.status, "operator": self.operator,
                "source_hash": self.source_hash, "kernel_path": str(self.kernel_path),
                "result_path": str(self.result_path), "overview_path": str(self.overview_path),
                "metrics": self.metrics, "tags": self.tags, "created_at": self.created_at.isoformat()}

    def missing_files(self) -> list[Path]:
        """The node's own files (kernel, result, overview) that are not on disk."""
        return [p for p in (self.kernel_path, self.result_path, self.overview_path) if not p.is_file()]

    def to_view(self, with_source: bool = True, with_result: bool = True) -> NodeView:
        """The node as the search graph sees it; reading the files is what the flags skip."""
        return NodeView(
            id=self.id,
            parent_id=self.parent_id,
            score=self.score,
            is_buggy=self.is_buggy,
            status=self.status,
            operator=self.operator,
            source_hash=self.source_hash,
            source=read_text(self.kernel_path) if with_source else "",
            result=read_json(self.result_path) if with_result else {},
            tags=dict(self.tags),
        )
