"""Recording nodes: reserve ids, write every object file, then insert the rows in one go."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kernelevolve.graph import NewNode, source_hash

from .claims import complete_claim, release_claim
from .database import Database, lock_run
from .errors import DuplicateChildError, InvalidRecordError
from .objects import ObjectStore, check_extra_names
from .records import check_json, check_score
from .schema import id_counters, nodes, runs

_CHUNK = 500  # ids per IN (...) list: far below every backend's bound-parameter limit


def reserve_ids(conn: Connection, count: int) -> range:
    """Hand out ``count`` node ids that no other writer of this database will get."""
    if count < 1:
        raise InvalidRecordError(f"cannot reserve {count} node ids")
    counter = id_counters.c.name == "node"
    first = conn.execute(
        sa.select(id_counters.c.next_value).where(counter).with_for_update()
    ).scalar_one()
    conn.execute(sa.update(id_counters).where(counter).values(next_value=first + count))
    return range(first, first + count)


def validate(node: NewNode) -> None:
    """Everything that can be refused is refused before a file is written or an id spent."""
    if node.id is None:
        raise InvalidRecordError("a node recorded in bulk needs an id from Store.reserve_node_ids")
    check_score(node.score)
    check_json(node.metrics, "metrics")
    check_json(node.tags, "tags")
    check_extra_names(list(node.objects))
    for what, text in [("source", node.source), ("overview", node.overview), *node.objects.items()]:
        if not isinstance(text, str):
            raise InvalidRecordError(f"{what} must be text, not {type(text).__name__}")


def record_nodes(
    db: Database,
    objects: ObjectStore,
    run_id: int,
    run_name: str,
    new_nodes: Sequence[NewNode],
    claim_id: int | None = None,
) -> list[dict[str, Any]]:
    """Write the nodes' files, then insert their rows (completing ``claim_id``); return the rows."""
    for node in new_nodes:
        validate(node)
    now = datetime.now(timezone.utc)
    rows = [_write_files(objects, run_id, run_name, node, now) for node in new_nodes]

    twin: list[int] = []

    def insert(conn: Connection) -> None:
        lock_run(conn, run_id)
        twin[:] = _twins(conn, run_id, new_nodes, rows) if claim_id is not None else []
        if twin:  # under the run's lock: of two controllers that made the same child, one records it
            release_claim(conn, claim_id)
            return
        if claim_id is not None:
            complete_claim(conn, run_id, claim_id)
        _check_ids_reserved(conn, [row["id"] for row in rows])
        _check_parents(conn, run_id, rows)
        conn.execute(sa.insert(nodes), rows)
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(updated_at=now))

    db.write(insert)
    if twin:
        raise DuplicateChildError(f"node {twin[0]} already holds this kernel from the same parent", twin[0])
    return rows


def _twins(conn: Connection, run_id: int, new_nodes: Sequence[NewNode], rows: list[dict[str, Any]]) -> list[int]:
    """Nodes of the run already holding one of these kernels as a child of the same parent (an
    expansion that produced no source has no twin)."""
    found = []
    for node, row in zip(new_nodes, rows):
        if row["parent_id"] is None or not node.source:
            continue
        found += conn.execute(sa.select(nodes.c.id).where(
            nodes.c.run_id == run_id, nodes.c.parent_id == row["parent_id"],
            nodes.c.source_hash == row["source_hash"])).scalars().all()
    return found


def _write_files(
    objects: ObjectStore, run_id: int, run_name: str, node: NewNode, now: datetime
) -> dict[str, Any]:
    files = objects.write_node(
        run_name, node.id, node.source, node.result, node.overview, node.objects
    )
    return {
        "id": node.id,
        "run_id": run_id,
        "parent_id": node.parent_id,
        "score": float(node.score),
        "is_buggy": bool(node.is_buggy),
        "status": node.status,
        "operator": node.operator,
        "source_hash": source_hash(node.source),
        "kernel_path": files.kernel,
        "result_path": files.result,
        "overview_path": files.overview,
        "objects": list(files.extra),
        "metrics": node.metrics,
        "tags": node.tags,
        "created_at": now,
    }


def _check_ids_reserved(conn: Connection, ids: list[int]) -> None:
    next_free = conn.execute(
        sa.select(id_counters.c.next_value).where(id_counters.c.name == "node")
    ).scalar_one()
    if len(set(ids)) != len(ids) or max(ids) >= next_free or min(ids) < 1:
        raise InvalidRecordError("node ids must be distinct and come from Store.reserve_node_ids")
    taken = _existing(conn, ids, sa.select(nodes.c.id))
    if taken:
        raise InvalidRecordError(f"node ids already recorded: {sorted(taken)[:10]}")


def _check_parents(conn: Connection, run_id: int, rows: list[dict[str, Any]]) -> None:
    """Each parent is a node of the same run, recorded earlier or earlier in this batch."""
    batch = {row["id"]: i for i, row in enumerate(rows)}
    outside = {r["parent_id"] for r in rows if r["parent_id"] is not None} - batch.keys()
    known = _existing(conn, list(outside), sa.select(nodes.c.id, nodes.c.run_id))
    for i, row in enumerate(rows):
        parent = row["parent_id"]
        if parent is None:
            continue
        if parent in batch:
            if batch[parent] >= i:
                raise InvalidRecordError(f"node {row['id']} comes before its parent {parent}")
        elif parent not in known:
            raise InvalidRecordError(f"parent node {parent} does not exist")
        elif known[parent] != run_id:
            raise InvalidRecordError(f"parent node {parent} belongs to another run")


def _existing(conn: Connection, ids: list[int], query: sa.Select[Any]) -> dict[int, Any]:
    """The rows of ``query`` (id first) whose id is in ``ids``, keyed by id."""
    found: dict[int, Any] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in conn.execute(query.where(nodes.c.id.in_(chunk))):
            found[row[0]] = row[-1]
    return found
