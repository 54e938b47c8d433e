"""Connections to the metadata database: per-backend engine setup and the one write path.

Every write goes through ``Database.write(fn)``: ``fn`` runs inside one transaction, and the whole
transaction is retried a bounded number of times when the backend reports lock contention
("database is locked" on SQLite) or a serialization failure / deadlock (PostgreSQL). On SQLite a
write transaction starts with ``BEGIN IMMEDIATE``, so it takes the write lock up front instead of
failing to upgrade a read lock half-way; reads start a plain (deferred) transaction.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from .errors import InvalidRecordError, StoreBusyError, StoreError
from .schema import runs

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_S = 30.0
WRITE_ATTEMPTS = 6
_WRITE_OPTION = "kernelevolve_write"
# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}
_SQLITE_CONTENTION = ("database is locked", "database is busy", "database table is locked")
# Switching a fresh file to WAL can also lose a race for the file itself.
_SQLITE_WAL_SWITCH_RACE = (*_SQLITE_CONTENTION, "unable to open database file")


class Database:
    """One engine on one URL, with the transaction rules of this store."""

    def __init__(self, url: str, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S):
        self.url = url
        self.engine: Engine = _create_engine(url, busy_timeout_s)

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction, retrying the whole of it on lock contention."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(**{_WRITE_OPTION: True})
                    with conn.begin():
                        return fn(conn)
            except sa.exc.DBAPIError as exc:
                if not is_contention(exc):
                    raise
                if attempt == WRITE_ATTEMPTS - 1:
                    raise StoreBusyError(
                        f"gave up writing to {self.display_url} after {WRITE_ATTEMPTS} attempts: "
                        f"{exc.orig}; another process holds the database too long"
                    ) from exc
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection inside one read transaction: one snapshot on SQLite; on PostgreSQL
        (READ COMMITTED) each statement sees what was committed when it started."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()


def is_contention(exc: sa.exc.DBAPIError) -> bool:
    """Whether a failed statement lost a race for a lock, so that retrying it can succeed."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _RETRYABLE_SQLSTATES
    message = str(exc.orig).lower()
    return any(text in message for text in _SQLITE_CONTENTION)


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT of one row generated."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise StoreError("the database did not report the id of the inserted row")
    return int(key[0])


def lock_run(conn: Connection, run_id: int) -> None:
    """Serialize writers of one run: a row lock on PostgreSQL; SQLite's write lock already does."""
    found = conn.execute(
        sa.select(runs.c.id).where(runs.c.id == run_id).with_for_update()
    ).scalar_one_or_none()
    if found is None:
        raise InvalidRecordError(f"no run with id {run_id}")


def _create_engine(url: str, busy_timeout_s: float) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})
    sa.event.listen(engine, "connect", _configure_sqlite_connection)
    sa.event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 module so that _begin_sqlite_transaction decides its kind.
    # The busy timeout itself comes from the connect argument ``timeout``.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    _enable_wal(cursor)
    # In WAL mode NORMAL never corrupts the database; a power cut may drop the last commits.
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a setting stored in the file). Switching needs the file to itself,
    and SQLite does not wait on its busy handler for that: connections opening a fresh file at the
    same moment get "database is locked" or "unable to open database file" at once. Retry then."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            message = str(exc).lower()
            if not any(text in message for text in _SQLITE_WAL_SWITCH_RACE) or time.monotonic() > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(0.2, delay * 2)


def _begin_sqlite_transaction(conn: Connection) -> None:
    kind = "IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {kind}")
