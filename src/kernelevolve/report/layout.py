"""Where the search graph's nodes sit on the page: a tidy tree, roots at the top, each leaf in a
column of its own, a parent centred over its children."""

from __future__ import annotations

from dataclasses import dataclass

from .facts import NodeFacts

COLUMN_PX = 26
ROW_PX = 46
MARGIN_PX = 24


@dataclass(frozen=True)
class Placed:
    node: NodeFacts
    x: float
    y: float
    parent_xy: tuple[float, float] | None


@dataclass(frozen=True)
class Layout:
    placed: list[Placed]
    width: int
    height: int


def tree_layout(nodes: list[NodeFacts]) -> Layout:
    """Positions in pixels. Iterative (lineages run hundreds deep); a node whose parent is not in
    the run is drawn as a root."""
    ids = {n.id for n in nodes}
    children: dict[int | None, list[NodeFacts]] = {}
    for n in nodes:
        children.setdefault(n.parent_id if n.parent_id in ids else None, []).append(n)
    column: dict[int, float] = {}
    depth: dict[int, int] = {}
    leaves = 0
    # Depth-first, children in id order; a node is placed once all of its children are.
    stack: list[tuple[NodeFacts, int, bool]] = [(root, 0, False) for root in reversed(children.get(None, []))]
    while stack:
        node, level, expanded = stack.pop()
        kids = children.get(node.id, [])
        if expanded or not kids:
            depth[node.id] = level
            if kids:
                column[node.id] = (column[kids[0].id] + column[kids[-1].id]) / 2
            else:
                column[node.id], leaves = float(leaves), leaves + 1
            continue
        stack.append((node, level, True))
        stack.extend((kid, level + 1, False) for kid in reversed(kids))

    def xy(node_id: int) -> tuple[float, float]:
        return MARGIN_PX + column[node_id] * COLUMN_PX, MARGIN_PX + depth[node_id] * ROW_PX

    placed = [Placed(n, *xy(n.id), xy(n.parent_id) if n.parent_id in ids else None) for n in nodes]
    return Layout(placed, width=int(2 * MARGIN_PX + max(leaves - 1, 0) * COLUMN_PX + 60),
                  height=int(2 * MARGIN_PX + max(depth.values(), default=0) * ROW_PX))
