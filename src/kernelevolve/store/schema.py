"""The store's tables as the queries see them: the current schema, one ``MetaData``.

Migrations (``migrations.py``) are what build and change these tables in a database; a change here
without a migration there is caught by the tests that open a version-1 database. This is schema
version 2: version 1 (frozen in ``schema_v1.py``) had no ``claims.parent_id``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

# JSONB on PostgreSQL (indexable, compact); plain JSON text elsewhere.
JSONColumn = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", Timestamp, nullable=False),
    sa.Column("kernelevolve_version", sa.String(32), nullable=False),
)

# Key/value facts about this database, e.g. its store_id (see objects.py for why).
store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Counters handed out in blocks; node ids come from here so files can be written before the row.
id_counters = sa.Table(
    "id_counters",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("next_value", sa.BigInteger, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("problem_path", sa.Text, nullable=False),
    sa.Column("problem_hash", sa.String(128), nullable=False),
    sa.Column("platform", sa.String(64), nullable=False),
    sa.Column("config", JSONColumn, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_runs_problem_hash", "problem_hash"),
)

nodes = sa.Table(
    "nodes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("nodes.id"), nullable=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("is_buggy", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("operator", sa.String(64), nullable=False),
    sa.Column("source_hash", sa.String(128), nullable=False),
    sa.Column("kernel_path", sa.Text, nullable=False),
    sa.Column("result_path", sa.Text, nullable=False),
    sa.Column("overview_path", sa.Text, nullable=False),
    sa.Column("objects", JSONColumn, nullable=False),
    sa.Column("metrics", JSONColumn, nullable=False),
    sa.Column("tags", JSONColumn, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_nodes_run_id", "run_id"),
    sa.Index("ix_nodes_parent_id", "parent_id"),
    sa.Index("ix_nodes_source_hash", "source_hash"),
    # best(): walk one run's scores from the top instead of sorting the whole run.
    sa.Index("ix_nodes_run_id_score", "run_id", "score"),
)

# Claim ids are never reused (AUTOINCREMENT on SQLite; sequences never reuse on PostgreSQL): a
# controller whose claim was reclaimed as dead must not complete a newer claim with the same id.
claims = sa.Table(
    "claims",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("heartbeat_at", Timestamp, nullable=False),
    # The node whose expansion this step is (None for seeds and drafts); schema version 2.
    sa.Column("parent_id", sa.Integer, nullable=True),
    sa.Index("ix_claims_run_id", "run_id"),
    sa.Index("ix_claims_owner", "owner"),
    sqlite_autoincrement=True,
)

CACHE_KEY_LENGTH = 512

eval_cache = sa.Table(
    "eval_cache",
    metadata,
    sa.Column("key", sa.String(CACHE_KEY_LENGTH), primary_key=True),
    sa.Column("result", JSONColumn, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)
