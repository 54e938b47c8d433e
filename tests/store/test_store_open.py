"""Opening a store: where it lives by default, the SQLite settings, the write retries, and the
guard that keeps two databases out of one object directory."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from kernelevolve.store import ObjectRootMismatchError, StoreBusyError, default_objects_dir, open_store
from kernelevolve.store.database import Database


def test_default_store_is_sqlite_under_dot_kernelevolve_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERNELEVOLVE_STORE", raising=False)
    monkeypatch.delenv("KERNELEVOLVE_OBJECTS", raising=False)
    with open_store() as store:
        assert store.url == f"sqlite:///{tmp_path / '.kernelevolve' / 'kernelevolve.db'}"
        assert store.objects.root == tmp_path / ".kernelevolve" / "objects"
    assert (tmp_path / ".kernelevolve" / "kernelevolve.db").is_file()


def test_environment_variable_names_the_store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'runs.db'}"
    monkeypatch.setenv("KERNELEVOLVE_STORE", url)
    monkeypatch.delenv("KERNELEVOLVE_OBJECTS", raising=False)
    with open_store() as store:
        assert store.url == url
        assert store.objects.root == tmp_path / "elsewhere" / "objects"


def test_objects_argument_then_root_then_environment_variable_name_the_object_directory(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("KERNELEVOLVE_OBJECTS", str(tmp_path / "from-env"))
    with open_store(url) as store:
        assert store.objects.root == tmp_path / "from-env"
    with open_store(url, root=tmp_path / "root") as store:
        assert store.objects.root == tmp_path / "root" / "objects"
    with open_store(url, root=tmp_path / "root", objects=tmp_path / "from-flag") as store:
        assert store.objects.root == tmp_path / "from-flag"


def test_server_database_gets_an_object_directory_named_after_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = default_objects_dir("postgresql+psycopg://kernelevolve:secret@db.example:5433/runs")
    assert found == tmp_path / ".kernelevolve" / "objects-postgresql-db.example-5433-runs"
    assert default_objects_dir("sqlite://") == tmp_path / ".kernelevolve" / "objects"


@pytest.mark.postgres
def test_server_store_and_the_default_sqlite_store_share_a_working_directory(tmp_path, monkeypatch, postgres_url):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERNELEVOLVE_STORE", raising=False)
    monkeypatch.delenv("KERNELEVOLVE_OBJECTS", raising=False)
    with open_store() as local, open_store(postgres_url) as shared:
        assert local.objects.root != shared.objects.root
        assert shared.objects.root.parent == tmp_path / ".kernelevolve"


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    with open_store(root=tmp_path) as store:
        with store._db.reading() as conn:
            pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "foreign_keys", "busy_timeout")}
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}


def test_object_directory_of_another_database_is_refused(tmp_path):
    shared = tmp_path / "shared"
    open_store(f"sqlite:///{tmp_path / 'a.db'}", root=shared).close()
    with pytest.raises(ObjectRootMismatchError, match="belongs to another kernelevolve database"):
        open_store(f"sqlite:///{tmp_path / 'b.db'}", root=shared)


def _hold_write_lock(path: Path) -> tuple[threading.Thread, threading.Event]:
    """Hold SQLite's write lock from another connection until the returned event is set."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait()
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait()
    return holder, release


def _write_one(conn: sa.Connection) -> int:
    return conn.exec_driver_sql("INSERT INTO t VALUES (1)").rowcount


@pytest.fixture
def quick_database(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 't.db'}", busy_timeout_s=0.01)
    database.write(lambda conn: conn.exec_driver_sql("CREATE TABLE t (x INTEGER)"))
    yield database, tmp_path / "t.db"
    database.close()


def test_write_is_retried_until_the_lock_is_free(quick_database):
    database, path = quick_database
    holder, release = _hold_write_lock(path)
    threading.Timer(0.2, release.set).start()
    assert database.write(_write_one) == 1
    holder.join()


def test_write_gives_up_with_store_busy_after_bounded_retries(quick_database):
    database, path = quick_database
    holder, release = _hold_write_lock(path)
    try:
        with pytest.raises(StoreBusyError, match="attempts"):
            database.write(_write_one)
    finally:
        release.set()
        holder.join()


def test_a_sqlite_store_names_the_files_it_keeps_not_their_folder(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'db' / 'runs.db'}", objects=tmp_path / "objs") as store:
        db = (tmp_path / "db").resolve()
        assert set(store.private_paths()) == {(tmp_path / "objs").resolve(), db / "runs.db", db / "runs.db-wal",
                                              db / "runs.db-shm"}
