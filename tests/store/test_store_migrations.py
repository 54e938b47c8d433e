"""Schema versions: recorded, applied once, kept across opens, and a newer database refused."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from kernelevolve.store import SchemaTooNewError, new_owner, open_store
from kernelevolve.store.migrations import LATEST_VERSION, MIGRATIONS
from kernelevolve.store.schema import metadata, schema_version

V1_DUMP = Path(__file__).parent / "data" / "v1.sql"


def _versions(url: str) -> list[int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(schema_version.c.version).order_by("version")).scalars())
    finally:
        engine.dispose()


def test_fresh_database_records_every_schema_version(store, store_url):
    assert _versions(store_url) == list(range(1, LATEST_VERSION + 1))


def test_migrated_tables_match_the_table_definitions(store, store_url):
    engine = sa.create_engine(store_url)
    try:
        found = sa.MetaData()
        found.reflect(engine)
    finally:
        engine.dispose()
    assert set(found.tables) == set(metadata.tables)
    for name, table in metadata.tables.items():
        assert set(found.tables[name].columns.keys()) == set(table.columns.keys()), name
        assert {i.name for i in found.tables[name].indexes} == {i.name for i in table.indexes}, name


def test_reopening_keeps_runs_nodes_and_cached_results(store, store_url, store_root, run, make_node):
    root = make_node(run.id)
    child = make_node(run.id, root.id)
    store.put_cached_result("k", {"status": "ok"})
    store.close()
    with open_store(store_url, root=store_root) as again:
        assert [n.id for n in again.lineage(child.id)] == [root.id, child.id]
        assert again.get_run(run.name).created_at == run.created_at
        assert again.cached_result("k") == {"status": "ok"}
    assert _versions(store_url) == list(range(1, LATEST_VERSION + 1))


def test_database_from_a_newer_kernelevolve_is_refused(store, store_url, store_root):
    store.close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(schema_version).values(
            version=LATEST_VERSION + 1, applied_at=datetime.now(timezone.utc), kernelevolve_version="99.0"
        ))
    engine.dispose()
    with pytest.raises(SchemaTooNewError, match="upgrade kernelevolve"):
        open_store(store_url, root=store_root)


def test_opening_a_fresh_database_from_several_threads_at_once_migrates_it_once(store_url, store_root):
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            open_store(store_url, root=store_root).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _versions(store_url) == list(range(1, LATEST_VERSION + 1))


def test_fresh_sqlite_files_opened_by_threads_at_once_never_fail(tmp_path):
    # Switching a fresh file to WAL needs it to itself and SQLite does not wait for that: before
    # the switch was retried, about 1 fresh file in 30 failed with "database is locked" here.
    for i in range(200):
        root = tmp_path / str(i)
        errors: list[BaseException] = []

        def open_and_close(root=root, errors=errors) -> None:
            try:
                open_store(f"sqlite:///{root / 'kernelevolve.db'}", root=root).close()
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=open_and_close) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], f"fresh file {i}: {errors[0]}"


def test_version_1_database_file_opens_with_its_data(tmp_path):
    database = tmp_path / "kernelevolve.db"
    with sqlite3.connect(database) as conn:
        conn.executescript(V1_DUMP.read_text())
    with open_store(f"sqlite:///{database}") as store:
        run = store.get_run("softmax-v1")
        assert (run.status, run.config) == ("done", {"steps": 8, "policy": "greedy"})
        assert [n.id for n in store.lineage(3)] == [1, 2, 3]
        assert store.best(run.id).id == 2
        assert store.node(1).tags == {"island": 0}
        assert store.cached_result("key-v1") == {"status": "ok", "speedup": 1.7}
        assert store.reserve_node_ids(1)[0] == 4
        assert store.claim_slot(run.id, new_owner(), 10, parent_id=2, exclusive=True) is not None
        assert store.expanding_parents(run.id) == {2}


def test_version_1_claims_survive_the_migration_on_every_backend(store_url, store_root):
    if store_url.startswith("sqlite"):
        Path(store_url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
    now = datetime.now(timezone.utc)
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            schema_version.create(conn)
            MIGRATIONS[0](conn)
            conn.execute(sa.insert(schema_version).values(version=1, applied_at=now, kernelevolve_version="0.1.0"))
            run_id = conn.execute(sa.insert(metadata.tables["runs"]).values(
                name="r", problem_path="p.py", problem_hash="h", platform="interpreter", config={},
                status="running", created_at=now, updated_at=now)).inserted_primary_key[0]
            conn.execute(sa.text("INSERT INTO claims (run_id, owner, created_at, heartbeat_at) "
                                 "VALUES (:run, 'another-host.invalid:1:x', :now, :now)"),
                         {"run": run_id, "now": now})
    finally:
        engine.dispose()
    with open_store(store_url, root=store_root) as store:
        assert store.claim_slot(run_id, new_owner(), max_steps=2) is not None
        assert store.claim_slot(run_id, new_owner(), max_steps=2) is None
    assert _versions(store_url) == list(range(1, LATEST_VERSION + 1))
