"""Recursive queries over the node tree: a node's lineage (root first) and its subtree."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .schema import nodes


def lineage_query(node_id: int) -> sa.Select[Any]:
    """Rows of ``nodes`` from the root down to ``node_id``."""
    chain = (
        sa.select(nodes.c.id, nodes.c.parent_id, sa.literal(0).label("depth"))
        .where(nodes.c.id == node_id)
        .cte("lineage", recursive=True)
    )
    chain = chain.union_all(
        sa.select(nodes.c.id, nodes.c.parent_id, chain.c.depth + 1).join(
            chain, nodes.c.id == chain.c.parent_id
        )
    )
    return sa.select(nodes).join(chain, nodes.c.id == chain.c.id).order_by(chain.c.depth.desc())


def subtree_query(node_id: int) -> sa.Select[Any]:
    """Rows of ``nodes`` for ``node_id`` and all its descendants, in id order."""
    below = sa.select(nodes.c.id).where(nodes.c.id == node_id).cte("subtree", recursive=True)
    below = below.union_all(
        sa.select(nodes.c.id).join(below, nodes.c.parent_id == below.c.id)
    )
    return sa.select(nodes).join(below, nodes.c.id == below.c.id).order_by(nodes.c.id)
