"""Version 1 of the store's tables, frozen: what migration 1 builds. Never edit this file.

Later versions change tables through migrations (``migrations.py``); ``schema.py`` is the current
schema the queries use. Keeping version 1 here means a fresh database goes through exactly the
steps an old one did, so both end with the same tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_TIMESTAMP = sa.DateTime(timezone=True)

sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

sa.Table(
    "id_counters",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("next_value", sa.BigInteger, nullable=False),
)

sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("problem_path", sa.Text, nullable=False),
    sa.Column("problem_hash", sa.String(128), nullable=False),
    sa.Column("platform", sa.String(64), nullable=False),
    sa.Column("config", _JSON, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
    sa.Column("updated_at", _TIMESTAMP, nullable=False),
    sa.Index("ix_runs_problem_hash", "problem_hash"),
)

sa.Table(
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
    sa.Column("objects", _JSON, nullable=False),
    sa.Column("metrics", _JSON, nullable=False),
    sa.Column("tags", _JSON, nullable=False),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
    sa.Index("ix_nodes_run_id", "run_id"),
    sa.Index("ix_nodes_parent_id", "parent_id"),
    sa.Index("ix_nodes_source_hash", "source_hash"),
    sa.Index("ix_nodes_run_id_score", "run_id", "score"),
)

sa.Table(
    "claims",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
    sa.Column("heartbeat_at", _TIMESTAMP, nullable=False),
    sa.Index("ix_claims_run_id", "run_id"),
    sa.Index("ix_claims_owner", "owner"),
    sqlite_autoincrement=True,
)

sa.Table(
    "eval_cache",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("result", _JSON, nullable=False),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
)
