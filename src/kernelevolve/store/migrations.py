"""Schema versions: the ordered list of migrations and the runner that applies pending ones on open.

Version N of the schema is what ``MIGRATIONS[:N]`` builds. A database records each applied version
in ``schema_version``; opening it applies the missing ones in one transaction and never recreates a
table. A database with a version above ``LATEST_VERSION`` was written by a newer kernelevolve and is
refused.

Adding a migration: append a function; never edit an applied one, nor ``schema_v1.py`` (the frozen
tables migration 1 builds). Change ``schema.py`` in the same commit: the tests open a version-1
database file and a fresh one and compare both with it, so a table change without a migration
fails them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kernelevolve import __version__

from . import schema, schema_v1
from .database import Database
from .errors import NotAStoreError, SchemaTooNewError

# Any constant works: it only has to be the same for every kernelevolve that migrates this schema.
_PG_MIGRATION_LOCK = 0x6B65766F


def _v1_create_tables(conn: Connection) -> None:
    schema_v1.metadata.create_all(conn)
    v1 = schema_v1.metadata.tables
    conn.execute(sa.insert(v1["store_meta"]).values(key="store_id", value=uuid.uuid4().hex))
    conn.execute(sa.insert(v1["id_counters"]).values(name="node", next_value=1))


def _v2_claims_record_their_parent(conn: Connection) -> None:
    # The node a step expands, so that cooperating controllers can avoid expanding it at once.
    conn.execute(sa.text("ALTER TABLE claims ADD COLUMN parent_id INTEGER"))


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_create_tables, _v2_claims_record_their_parent]
LATEST_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    """The highest applied version; 0 for an empty database."""
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    return conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar() or 0


def migrate(db: Database) -> int:
    """Bring the database to LATEST_VERSION; return the version it had before."""
    with db.reading() as conn:
        found = current_version(conn)
    _refuse_newer(db.display_url, found)
    if found == LATEST_VERSION:
        return found
    return db.write(lambda conn: _apply_pending(conn, db.display_url))


def check_readable(db: Database) -> int:
    """The version of a database that is to be read without migrating it; NotAStoreError for one
    without kernelevolve's tables. Every version so far has the same ``runs`` and ``nodes`` that
    reads use; a migration that changes them must make this refuse the versions before it."""
    with db.reading() as conn:
        found = current_version(conn)
    if found == 0:
        raise NotAStoreError(
            f"{db.display_url} holds no kernelevolve store (no schema_version table; an empty or "
            "foreign database): point --store at the store `kernelevolve optimize` wrote"
        )
    _refuse_newer(db.display_url, found)
    return found


def _apply_pending(conn: Connection, display_url: str) -> int:
    if conn.dialect.name == "postgresql":
        # Two processes opening a fresh database at once must not both create the tables.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    schema.schema_version.create(conn, checkfirst=True)
    found = current_version(conn)
    _refuse_newer(display_url, found)
    for version in range(found + 1, LATEST_VERSION + 1):
        MIGRATIONS[version - 1](conn)
        conn.execute(
            sa.insert(schema.schema_version).values(
                version=version,
                applied_at=datetime.now(timezone.utc),
                kernelevolve_version=__version__,
            )
        )
    return found


def _refuse_newer(display_url: str, found: int) -> None:
    if found > LATEST_VERSION:
        raise SchemaTooNewError(
            f"{display_url} has schema version {found}, but kernelevolve {__version__} knows "
            f"versions up to {LATEST_VERSION}: upgrade kernelevolve to open this store"
        )
