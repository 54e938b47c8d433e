"""The store's public face: ``open_store`` and ``Store``, what the controller and the CLI call.

A store is a metadata database (any SQLAlchemy URL; SQLite by default) plus an object directory.
Sharing a run between processes or hosts is opening the same URL and the same object directory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from kernelevolve.config import OBJECTS_ENV, STORE_ENV, environ
from kernelevolve.graph import NewNode

from . import claims
from .database import Database, inserted_id, parse_url
from .errors import InvalidRecordError, ObjectMissingError, RunConflictError, StoreURLError
from .migrations import check_readable, migrate
from .nodes import record_nodes, reserve_ids
from .objects import ObjectStore, check_name, read_json, read_text
from .records import NodeRecord, RunRecord, RunSummary, check_json
from .schema import CACHE_KEY_LENGTH, eval_cache, nodes, runs, store_meta
from .tree import lineage_query, subtree_query

DEFAULT_ROOT = Path(".kernelevolve")
ID_BATCH = 500  # ids per IN (...) list: well under every backend's bound-parameter limit
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")
# kernelevolve.graph.best in SQL, over non-buggy nodes: the highest score first, ties to the lowest id.
BEST_FIRST = (nodes.c.score.desc(), nodes.c.id)


def open_store(
    url: str | None = None, root: Path | None = None, objects: Path | None = None, read_only: bool = False
) -> Store:
    """Open (creating and migrating as needed) the store at ``url``, its files under ``objects``;
    ``read_only`` opens an existing store as it is, or raises StoreNotFoundError / NotAStoreError.

    ``url`` None: ``$KERNELEVOLVE_STORE``, else SQLite at ``<root>/kernelevolve.db``. ``objects``
    None: ``<root>/objects`` when ``root`` is given, else ``$KERNELEVOLVE_OBJECTS``, else
    ``default_objects_dir(url)``. ``root`` None: ``.kernelevolve`` in the working directory.
    """
    env = environ()
    from_env = not url and bool(env.get(STORE_ENV))
    url = url or env.get(STORE_ENV) or None
    if url is None:
        url = f"sqlite:///{Path(root if root is not None else DEFAULT_ROOT).resolve() / 'kernelevolve.db'}"
    try:
        parse_url(url)
    except StoreURLError as exc:
        if from_env:
            raise StoreURLError(f"{STORE_ENV}: {exc}") from exc
        raise
    if objects is None and root is not None:
        objects = Path(root) / "objects"
    objects = objects or env.get(OBJECTS_ENV) or default_objects_dir(url)
    return Store(url, ObjectStore(Path(objects)), read_only=read_only)


def default_objects_dir(url: str) -> Path:
    """Where a store keeps its files unless told: ``objects`` beside a SQLite file; for a server
    database, a folder of the working directory's ``.kernelevolve`` named after the database
    (``objects-postgresql-HOST-PORT-NAME``), which other machines do not see: processes sharing a
    run across machines pass one shared ``--objects``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database in (None, "", ":memory:"):
            return DEFAULT_ROOT.resolve() / "objects"
        return Path(str(database)).resolve().parent / "objects"
    label = "-".join(str(part) for part in (parsed.get_backend_name(), parsed.host or "local",
                                             parsed.port or "default", parsed.database or "default"))
    return DEFAULT_ROOT.resolve() / f"objects-{_UNSAFE_IN_NAME.sub('_', label)}"


def _refuse_other_problem(run: RunRecord, problem_path: str, problem_hash: str) -> None:
    if run.problem_hash != problem_hash:
        raise RunConflictError(
            f"run {run.name!r} exists for another problem ({run.problem_path}, hash "
            f"{run.problem_hash[:12]}); this one is {problem_path} (hash "
            f"{problem_hash[:12]}): choose another run name with --run"
        )


class Store:
    """Runs, their nodes, evaluation cache and step claims, over one database and one directory."""

    def __init__(self, url: str, objects: ObjectStore, read_only: bool = False):
        self.url = url
        self.objects = objects
        objects.refuse_non_directory()  # before the database file is created for nothing
        self._db = Database(url, read_only=read_only)
        try:
            if read_only:
                check_readable(self._db)
            else:
                migrate(self._db)
            with self._db.reading() as conn:
                store_id = conn.execute(
                    sa.select(store_meta.c.value).where(store_meta.c.key == "store_id")
                ).scalar_one()
            if read_only:
                self.objects.check(store_id)
            else:
                self.objects.bind(store_id)
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"Store({self.display_url!r}, objects={str(self.objects.root)!r})"

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return self._db.display_url

    def private_paths(self) -> tuple[Path, ...]:
        """Where this store keeps files, which an evaluation sandbox keeps out of a candidate's
        sight: its object directory, and a SQLite database with its write-ahead log and index (the
        files, not their folder, which may also hold the problem a worker loads)."""
        database = make_url(self.url).database if self.url.startswith("sqlite") else None
        files = []
        if database and database != ":memory:":
            path = Path(database).resolve()
            files = [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
        return (self.objects.root, *(f for f in files if f.exists()))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # runs

    def ensure_run(
        self, name: str, problem_path: str, problem_hash: str, platform: str, config: dict[str, Any]
    ) -> RunRecord:
        """Create the run, or return the existing one of that name if it is for the same problem."""
        check_name(name, "run name")
        check_json(config, "run config")

        def create_or_get(conn: sa.Connection) -> RunRecord:
            row = conn.execute(sa.select(runs).where(runs.c.name == name)).mappings().first()
            if row is None:
                now = datetime.now(timezone.utc)
                values = dict(name=name, problem_path=str(problem_path), problem_hash=problem_hash,
                              platform=platform, config=config, status="created",
                              created_at=now, updated_at=now)
                run_id = inserted_id(conn.execute(sa.insert(runs).values(**values)))
                return RunRecord.from_row({"id": run_id, **values})
            run = RunRecord.from_row(row)
            _refuse_other_problem(run, problem_path, problem_hash)
            return run

        try:
            return self._db.write(create_or_get)
        except sa.exc.IntegrityError:
            # Another process created it between our read and insert; now it is there to read.
            return self._db.write(create_or_get)

    def check_run(self, name: str, problem_path: str, problem_hash: str) -> None:
        """What ``ensure_run`` would refuse (a bad name, a run of that name for another problem),
        without writing: callers check before starting workers."""
        check_name(name, "run name")
        run = self.get_run(name)
        if run is not None:
            _refuse_other_problem(run, problem_path, problem_hash)

    def get_run(self, name: str) -> RunRecord | None:
        with self._db.reading() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.name == name)).mappings().first()
        return None if row is None else RunRecord.from_row(row)

    def list_runs(self) -> list[RunSummary]:
        good = sa.not_(nodes.c.is_buggy)
        per_run = (
            sa.select(
                nodes.c.run_id,
                sa.func.count().label("node_count"),
                sa.func.sum(sa.case((nodes.c.is_buggy, 1), else_=0)).label("buggy_count"),
                sa.func.max(sa.case((good, nodes.c.score))).label("best_score"),
            )
            .group_by(nodes.c.run_id)
            .subquery()
        )
        query = (
            sa.select(runs, per_run.c.node_count, per_run.c.buggy_count, per_run.c.best_score)
            .outerjoin(per_run, per_run.c.run_id == runs.c.id)
            .order_by(runs.c.id)
        )
        with self._db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            RunSummary(
                run=RunRecord.from_row(row),
                node_count=int(row["node_count"] or 0),
                buggy_count=int(row["buggy_count"] or 0),
                best_score=row["best_score"],
            )
            for row in rows
        ]

    def set_run_status(self, run_id: int, status: str) -> None:
        def update(conn: sa.Connection) -> None:
            now = datetime.now(timezone.utc)
            done = conn.execute(
                sa.update(runs).where(runs.c.id == run_id).values(status=status, updated_at=now)
            )
            if done.rowcount != 1:
                raise InvalidRecordError(f"no run with id {run_id}")

        self._db.write(update)

    def finish_run(
        self, run_id: int, owner: str, status: str, stale_after_s: float = claims.DEFAULT_STALE_AFTER_S,
    ) -> bool:
        """Set the status with which ``owner`` leaves the run ('done', 'interrupted'), unless another
        live controller still holds a claim on it: then the run stays 'running' and this is False."""
        def update(conn: sa.Connection) -> bool:
            now = datetime.now(timezone.utc)
            if claims.others_hold_claims(conn, run_id, owner, stale_after_s, now):
                return False
            done = conn.execute(sa.update(runs).where(runs.c.id == run_id).values(status=status, updated_at=now))
            if done.rowcount != 1:
                raise InvalidRecordError(f"no run with id {run_id}")
            return True

        return self._db.write(update)

    # nodes

    def add_node(self, run_id: int, node: NewNode, claim_id: int | None = None) -> NodeRecord:
        """Record one evaluated candidate: files first, then its row (completing ``claim_id``).
        ``node.id`` None: an id is reserved for it."""
        run = self._run_by_id(run_id)
        if node.id is None:
            node = replace(node, id=self.reserve_node_ids(1)[0])
        row = record_nodes(self._db, self.objects, run.id, run.name, [node], claim_id)[0]
        return NodeRecord.from_row(row, self.objects)

    def reserve_node_ids(self, count: int) -> range:
        """Ids for ``add_nodes_bulk``; each id is handed out once per database."""
        return self._db.write(lambda conn: reserve_ids(conn, count))

    def add_nodes_bulk(self, run_id: int, new_nodes: Sequence[NewNode]) -> list[int]:
        """Record many nodes in one transaction (imports, benchmarks); return their ids.

        Each node's ``id`` comes from ``reserve_node_ids``; a parent is an earlier node of the run
        or an earlier entry of ``new_nodes``. Files are written first, as for ``add_node``.
        """
        if not new_nodes:
            return []
        run = self._run_by_id(run_id)
        rows = record_nodes(self._db, self.objects, run.id, run.name, new_nodes)
        return [row["id"] for row in rows]

    def nodes(self, run_id: int) -> list[NodeRecord]:
        query = sa.select(nodes).where(nodes.c.run_id == run_id).order_by(nodes.c.id)
        return self._node_records(query)

    def node_ids(self, run_id: int) -> list[int]:
        """The run's node ids in order: a cheap way to see which nodes are new since last time."""
        with self._db.reading() as conn:
            return list(conn.execute(
                sa.select(nodes.c.id).where(nodes.c.run_id == run_id).order_by(nodes.c.id)
            ).scalars())

    def nodes_by_ids(self, node_ids: Sequence[int]) -> list[NodeRecord]:
        """The nodes with these ids, in id order (unknown ids are left out)."""
        found: list[NodeRecord] = []
        ids = sorted(set(node_ids))
        for start in range(0, len(ids), ID_BATCH):
            batch = ids[start:start + ID_BATCH]
            found += self._node_records(sa.select(nodes).where(nodes.c.id.in_(batch)).order_by(nodes.c.id))
        return found

    def node(self, node_id: int) -> NodeRecord | None:
        found = self._node_records(sa.select(nodes).where(nodes.c.id == node_id))
        return found[0] if found else None

    def count_nodes(self, run_id: int) -> int:
        with self._db.reading() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(nodes).where(nodes.c.run_id == run_id)
            ).scalar_one())

    def best(self, run_id: int) -> NodeRecord | None:
        """The highest-scoring non-buggy node; ties go to the lowest id."""
        found = self._node_records(
            sa.select(nodes)
            .where(nodes.c.run_id == run_id, sa.not_(nodes.c.is_buggy))
            .order_by(*BEST_FIRST)
            .limit(1)
        )
        return found[0] if found else None

    def lineage(self, node_id: int) -> list[NodeRecord]:
        """The chain of ancestors, root first, ending with the node itself; [] if unknown."""
        return self._node_records(lineage_query(node_id))

    def subtree(self, node_id: int) -> list[NodeRecord]:
        """The node and all its descendants, in id order; [] if unknown."""
        return self._node_records(subtree_query(node_id))

    def best_across_runs(
        self, problem_hash: str, limit: int = 5, exclude_run_id: int | None = None
    ) -> list[NodeRecord]:
        """The best non-buggy nodes of every run on this problem: seeds for a warm start."""
        query = (
            sa.select(nodes)
            .join(runs, runs.c.id == nodes.c.run_id)
            .where(runs.c.problem_hash == problem_hash, sa.not_(nodes.c.is_buggy))
            .order_by(*BEST_FIRST)
            .limit(limit)
        )
        if exclude_run_id is not None:
            query = query.where(nodes.c.run_id != exclude_run_id)
        return self._node_records(query)

    def require_files(self, node: NodeRecord) -> None:
        """ObjectMissingError naming what is gone of ``node``'s files and the best correct node of
        its run that still has all of its own, when any file of ``node`` is missing."""
        missing = node.missing_files()
        if not missing:
            return
        ranked = sa.select(nodes).where(nodes.c.run_id == node.run_id, sa.not_(nodes.c.is_buggy),
                                        nodes.c.id != node.id).order_by(*BEST_FIRST)
        other = next((n for n in self._node_records(ranked) if not n.missing_files()), None)
        gone = ", ".join(p.name for p in missing)
        serves = (f"node {other.id} (score {other.score:.4g}) still has its files: "
                  f"`kernelevolve best RUN --node {other.id} --out FILE` writes it") if other else \
            "no other correct node of the run has its files"
        raise ObjectMissingError(
            f"node {node.id}'s files are gone ({gone} under {node.kernel_path.parent}); {serves}; "
            f"every process sharing the store must see the same object directory ({self.objects.root})"
        )

    def read_source(self, node: NodeRecord) -> str:
        return read_text(node.kernel_path)

    def read_result(self, node: NodeRecord) -> dict[str, Any]:
        return read_json(node.result_path)

    def read_object(self, node: NodeRecord, name: str) -> str:
        """An extra named object of the node (prompt.md, reply.md …)."""
        if name not in node.objects:
            raise InvalidRecordError(f"node {node.id} has no object {name!r}")
        return read_text(node.objects[name])

    # evaluation cache

    def cached_result(self, key: str) -> dict[str, Any] | None:
        with self._db.reading() as conn:
            return conn.execute(
                sa.select(eval_cache.c.result).where(eval_cache.c.key == key)
            ).scalar_one_or_none()

    def put_cached_result(self, key: str, result: dict[str, Any]) -> None:
        """Store (or replace) the result under ``key``, which the caller builds from everything
        that changes the answer: source hash, problem hash, platform, versions."""
        check_json(result, "cached result")
        if len(key) > CACHE_KEY_LENGTH:
            raise InvalidRecordError(f"cache key longer than {CACHE_KEY_LENGTH} characters")

        def put(conn: sa.Connection) -> None:
            now = datetime.now(timezone.utc)
            done = conn.execute(
                sa.update(eval_cache)
                .where(eval_cache.c.key == key)
                .values(result=result, created_at=now)
            )
            if done.rowcount == 0:
                conn.execute(sa.insert(eval_cache).values(key=key, result=result, created_at=now))

        try:
            self._db.write(put)
        except sa.exc.IntegrityError:
            self._db.write(put)  # a concurrent writer inserted the key first: update it now

    # step-budget claims

    def claim_slot(
        self, run_id: int, owner: str, max_steps: int,
        stale_after_s: float = claims.DEFAULT_STALE_AFTER_S,
        parent_id: int | None = None, exclusive: bool = False,
    ) -> int | None:
        """A claim id if evaluated nodes + live claims < max_steps, else None (budget spent).

        ``parent_id`` names the node the step expands. With ``exclusive`` a node that a live
        claim already expands is refused: ParentBusyError, whose ``busy`` lists those nodes.
        """
        return self._db.write(
            lambda conn: claims.claim_slot(
                conn, run_id, owner, max_steps, stale_after_s, datetime.now(timezone.utc),
                parent_id, exclusive,
            )
        )

    def claim_seeding(
        self, run_id: int, owner: str, count: int, max_steps: int,
        stale_after_s: float = claims.DEFAULT_STALE_AFTER_S,
    ) -> list[int] | None:
        """Up to ``count`` claims for the run's first nodes; None if the run has nodes or a live
        claim (another controller seeds it: wait for its nodes)."""
        return self._db.write(
            lambda conn: claims.claim_seeding(
                conn, run_id, owner, count, max_steps, stale_after_s, datetime.now(timezone.utc)
            )
        )

    def expanding_parents(
        self, run_id: int, stale_after_s: float = claims.DEFAULT_STALE_AFTER_S
    ) -> set[int]:
        """The nodes of the run that live claims are expanding now."""
        with self._db.reading() as conn:
            return claims.expanding_parents(conn, run_id, stale_after_s, datetime.now(timezone.utc))

    def release_claim(self, claim_id: int) -> None:
        """Give back a claim whose candidate will not be recorded; releasing twice is harmless."""
        self._db.write(lambda conn: claims.release_claim(conn, claim_id))

    def heartbeat(self, owner: str) -> None:
        """Keep every claim of ``owner`` alive for another ``stale_after_s``."""
        self._db.write(lambda conn: claims.heartbeat(conn, owner, datetime.now(timezone.utc)))

    # internals

    def _run_by_id(self, run_id: int) -> RunRecord:
        with self._db.reading() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise InvalidRecordError(f"no run with id {run_id}")
        return RunRecord.from_row(row)

    def _node_records(self, query: sa.Select[Any]) -> list[NodeRecord]:
        with self._db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [NodeRecord.from_row(row, self.objects) for row in rows]
