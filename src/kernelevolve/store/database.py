"""Connections to the metadata database: per-backend engine setup and the one write path.

Every write goes through ``Database.write(fn)``: ``fn`` runs inside one transaction, and the whole
transaction is retried a bounded number of times when the backend reports lock contention
("database is locked" on SQLite) or a serialization failure / deadlock (PostgreSQL). On SQLite a
write transaction starts with ``BEGIN IMMEDIATE``, so it takes the write lock up front instead of
failing to upgrade a read lock half-way; reads start a plain (deferred) transaction.

Opening checks the URL, the driver and the connection before anything else runs, and turns what
goes wrong into a typed ``StoreError`` that names the URL and the way out. A read-only database
(what ``show``, ``runs`` … open) is never created, switched to WAL, or written.
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

from .errors import (
    InvalidRecordError,
    NotAStoreError,
    StoreBusyError,
    StoreError,
    StoreNotFoundError,
    StoreUnreachableError,
    StoreURLError,
)
from .schema import runs

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_S = 30.0
# A server that does not answer within this is reported at once, not after the OS's TCP timeout.
CONNECT_TIMEOUT_S = 10
WRITE_ATTEMPTS = 6
_WRITE_OPTION = "kernelevolve_write"
# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}
_SQLITE_CONTENTION = ("database is locked", "database is busy", "database table is locked")
# Switching a fresh file to WAL can also lose a race for the file itself.
_SQLITE_WAL_SWITCH_RACE = (*_SQLITE_CONTENTION, "unable to open database file")


class Database:
    """One engine on one URL, with the transaction rules of this store."""

    def __init__(self, url: str, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S, read_only: bool = False):
        self.url = url
        self.read_only = read_only
        self.engine: Engine = _create_engine(url, busy_timeout_s, read_only)
        try:
            self._connect_once()
        except BaseException:
            self.engine.dispose()
            raise

    def _connect_once(self) -> None:
        """Fail now, with the URL in the message, if the database cannot be reached or read."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except sa.exc.DBAPIError as exc:
            raise self._opening_error(exc) from exc

    def _opening_error(self, exc: sa.exc.DBAPIError) -> StoreError:
        first_line = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        if self.engine.dialect.name != "sqlite":
            return StoreUnreachableError(
                f"cannot connect to {self.display_url}: {first_line}; check that the server runs and "
                "that the URL's host, port, user, password and database are right"
            )
        if isinstance(exc.orig, sqlite3.OperationalError):
            return StoreError(f"cannot open {self.display_url}: {first_line}; choose a --store path in a "
                              "directory you can write")
        return _damaged(self.display_url, exc)

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction, retrying the whole of it on lock contention."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(**{_WRITE_OPTION: True})
                    with conn.begin():
                        return fn(conn)
            except sa.exc.DBAPIError as exc:
                if is_damage(exc):
                    raise _damaged(self.display_url, exc) from exc
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
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.DBAPIError as exc:
            if is_damage(exc):
                raise _damaged(self.display_url, exc) from exc
            raise

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


def is_damage(exc: sa.exc.DBAPIError) -> bool:
    """Whether SQLite says the file itself is bad ("file is not a database", "database disk image is
    malformed"): its DatabaseError that is not an OperationalError (locks, missing files)."""
    return isinstance(exc.orig, sqlite3.DatabaseError) and not isinstance(exc.orig, sqlite3.OperationalError)


def _damaged(display_url: str, exc: sa.exc.DBAPIError) -> NotAStoreError:
    return NotAStoreError(f"{display_url} is not a readable kernelevolve store ({exc.orig}): the file is "
                          "damaged or not a SQLite database; restore it from a backup or point --store elsewhere")


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


def parse_url(url: str) -> sa.URL:
    """The URL as SQLAlchemy reads it, or StoreURLError saying what a store URL looks like."""
    try:
        return make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreURLError(
            f"{url!r} is not a store URL: use sqlite:///PATH (a file) or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from exc


def _create_engine(url: str, busy_timeout_s: float, read_only: bool) -> Engine:
    parsed = parse_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_file(parsed, shown, read_only)
        options: dict[str, Any] = {"connect_args": {"timeout": busy_timeout_s}}
    elif parsed.get_backend_name() == "postgresql":
        options = {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    else:
        options = {"pool_pre_ping": True}
    try:
        engine = sa.create_engine(parsed, **options)
    except sa.exc.NoSuchModuleError as exc:
        raise StoreURLError(
            f"{shown}: SQLAlchemy has no backend {parsed.drivername!r}; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DATABASE"
        ) from exc
    except ImportError as exc:
        raise StoreURLError(
            f"{shown}: the driver for {parsed.drivername!r} is not installed (no module {exc.name!r}); "
            "install it, or for PostgreSQL use postgresql+psycopg:// (pip install 'kernelevolve[postgres]')"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _configure_read_only if read_only else _configure_sqlite_connection)
        sa.event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _prepare_sqlite_file(parsed: sa.URL, shown: str, read_only: bool) -> None:
    """Create the file's directory, or for a read-only store insist that the file is there."""
    if not parsed.database or parsed.database == ":memory:":
        return
    path = Path(parsed.database)
    if read_only:
        if not path.is_file():
            raise StoreNotFoundError(
                f"no store at {shown} ({path.resolve()} does not exist): run `kernelevolve optimize` there "
                "first, or pass --store (or set KERNELEVOLVE_STORE) to the store you mean"
            )
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the directory of {shown}: {exc.strerror} ({exc.filename}); "
                         "choose a --store path in a directory you can write") from exc


def _configure_read_only(dbapi_connection: Any, _record: Any) -> None:
    # No WAL switch (it writes the file's header) and no writes at all, whatever a caller tries.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()


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
