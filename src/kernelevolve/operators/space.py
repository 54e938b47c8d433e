"""The configuration space the tuner searches, and what the run's nodes already say about it.

A space is anchored at a kernel (the top of the parent's chain of pure tuning steps): each of its
tunable literals is a dimension whose values lie within a few notches of the anchor's. Every node
of the graph whose source is the anchor with other values in those dimensions is a trial of the
space, with its score, its per-shape speedups and whether it failed for lack of resources. All of
it is read from the nodes, so the search state survives a resume and is the same for every
process sharing a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kernelevolve.graph import Graph, NodeView
from kernelevolve.operators.tuner import Move, Site, rewrite, sites_or_none, tuning_step

Point = tuple[int, ...]  # one value per dimension, in the space's dimension order

# What Triton and the driver say when a configuration asks for more than the SM has: shared
# memory (OutOfResources), registers or threads at launch (CUDA's "too many resources requested").
_RESOURCE_FAILURE = re.compile(
    r"out ?of ?resources?|OutOfResources|shared memory|too many resources requested|registers|"
    r"CUDA_ERROR_OUT_OF_RESOURCES",
    re.IGNORECASE,
)

# A variant that compiled this many times slower than its anchor (and for at least this long) marks
# the configurations larger still as infeasible, as a resource failure does: ptxas's time grows with
# the registers an unrolled tile needs, and one such build costs more than several whole candidates.
SLOW_BUILD_FACTOR = 5.0
SLOW_BUILD_MIN_S = 15.0


@dataclass(frozen=True)
class Dimension:
    site: Site  # the anchor's literal
    values: tuple[int, ...]  # ascending; holds the anchor's value

    @property
    def grows_resources(self) -> bool:
        """Larger values need more shared memory or registers: tile sizes and pipeline stages."""
        return self.site.domain.kind in ("block", "stages")


@dataclass(frozen=True)
class Trial:
    """A node of the graph that is a point of the space."""

    node_id: int
    point: Point
    score: float  # 0 for a failed candidate
    shape_speedups: dict[str, float]  # production shape -> speedup over torch.compile
    too_large: bool  # ran out of resources, or out of time (a runaway compilation)


def window(site: Site, radius: int) -> tuple[int, ...]:
    """The site's value and up to ``radius`` notches either way within its domain."""
    values, frontier = {site.value}, {site.value}
    for _ in range(radius):
        frontier = {n for v in frontier for n in site.domain.neighbours(v)} - values
        values |= frontier
    return tuple(sorted(values))


@dataclass(frozen=True)
class Space:
    anchor: NodeView
    dimensions: tuple[Dimension, ...]

    @property
    def size(self) -> int:
        size = 1
        for dim in self.dimensions:
            size *= len(dim.values)
        return size

    @property
    def anchor_point(self) -> Point:
        return tuple(d.site.value for d in self.dimensions)

    def source(self, point: Point) -> str:
        moves = tuple(Move(d.site, v) for d, v in zip(self.dimensions, point) if v != d.site.value)
        return rewrite(self.anchor.source, moves)

    def point_of(self, source: str) -> Point | None:
        """The point whose source this is, or None when the source is not one of the space."""
        if source == self.anchor.source:
            return self.anchor_point
        moves = tuning_step(self.anchor.source, source)
        if moves is None:
            return None
        moved = {m.site.key: m.new for m in moves}
        tuned = {d.site.key for d in self.dimensions}
        if not set(moved) <= tuned:
            return None
        point = tuple(moved.get(d.site.key, d.site.value) for d in self.dimensions)
        return point if all(v in d.values for d, v in zip(self.dimensions, point)) else None

    def trials(self, graph: Graph) -> list[Trial]:
        built_s = compile_seconds(self.anchor)
        found = []
        for node in graph.nodes.values():
            point = self.point_of(node.source) if node.source else None
            if point is not None:
                found.append(Trial(node.id, point, 0.0 if node.is_buggy else node.score,
                                   shape_speedups(node.result), too_large(node, built_s)))
        return found

    def infeasible(self, point: Point, failures: list[Point]) -> bool:
        """Whether a configuration at least as large, in every dimension that grows resource use,
        as one that was too large (and equal in the others) would be too large too."""
        for failed in failures:
            if all((v >= f) if d.grows_resources else (v == f) for d, v, f in zip(self.dimensions, point, failed)):
                return True
        return False


def anchor_of(graph: Graph, node: NodeView) -> NodeView:
    """The top of ``node``'s chain of pure tuning steps: the kernel its configuration varies."""
    current = node
    while (parent := graph.parent(current.id)) is not None and parent.source:
        if tuning_step(parent.source, current.source) is None:
            break
        current = parent
    return current


def space_of(graph: Graph, node: NodeView, radius: int,
             windows: dict[tuple[str, int], tuple[int, ...]] | None = None) -> Space | None:
    """The space around ``node``'s anchor: each tunable within ``radius`` notches, or with
    ``windows`` exactly the values it lists (sites it leaves out stay fixed). None when the anchor
    has no tunable literal or does not parse."""
    anchor = anchor_of(graph, node)
    sites = sites_or_none(anchor.source)
    if not sites:
        return None
    if windows is None:
        dims = [Dimension(s, window(s, radius)) for s in sites]
    else:
        dims = [Dimension(s, tuple(sorted(set(windows[s.key]) | {s.value}))) for s in sites if s.key in windows]
    dims = [d for d in dims if len(d.values) > 1]
    return Space(anchor, tuple(dims)) if dims else None


def shape_speedups(result: dict[str, Any]) -> dict[str, float]:
    return {t["shape"]: float(t["speedup"]) for t in result.get("timings") or []
            if t.get("speedup") is not None and not str(t["shape"]).startswith("ood-")}


def compile_seconds(node: NodeView) -> float | None:
    value = (node.result.get("phases") or {}).get("compile_s")
    return float(value) if isinstance(value, (int, float)) else None


def too_large(node: NodeView, anchor_compile_s: float | None = None) -> bool:
    """Whether the node's configuration asked for more than the device has, or for more time than
    its limit, or took far longer to compile than the anchor (``SLOW_BUILD_FACTOR`` times, and at
    least ``SLOW_BUILD_MIN_S``): tiles so large that building them runs away."""
    if node.status == "timeout":
        return True
    built_s = compile_seconds(node)
    if (built_s is not None and anchor_compile_s is not None
            and built_s > max(SLOW_BUILD_MIN_S, SLOW_BUILD_FACTOR * anchor_compile_s)):
        return True
    if node.status not in ("compile_error", "runtime_error"):
        return False
    failure = node.result.get("failure") or {}
    text = " ".join(str(failure.get(k, "")) for k in ("error_class", "message")) + " " + str(node.result.get("reason", ""))
    return bool(_RESOURCE_FAILURE.search(text))

