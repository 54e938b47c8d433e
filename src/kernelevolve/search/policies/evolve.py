"""Evolutionary selection: a population split into islands, tournaments within an island,
and periodic migration of an island's best into the next island of a ring.

A node's island is ``tags["island"]``; untagged roots (seeds) are dealt round-robin in id order
and untagged children inherit their parent's island. Every selection returns the island its
child belongs to, so islands stay separate populations: a parent comes from the child's own
island except on migration, where it is the donor island's best.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kernelevolve.config import EvolveOptions
from kernelevolve.graph import Graph, NodeView
from kernelevolve.search.policies.base import Selection, breadth_first, drafts, fitness_key


def island_members(graph: Graph, n_islands: int) -> list[list[NodeView]]:
    """The nodes of each island, in id order."""
    island: dict[int, int] = {}
    roots = sorted(graph.roots(), key=lambda n: n.id)
    dealt = {n.id: i % n_islands for i, n in enumerate(roots)}
    for node in breadth_first(graph):
        inherited = island[node.parent_id] if node.parent_id in island else dealt[node.id]
        island[node.id] = int(node.tags.get("island", inherited)) % n_islands
    members: list[list[NodeView]] = [[] for _ in range(n_islands)]
    for node_id in sorted(island):
        members[island[node_id]].append(graph.nodes[node_id])
    return members


@dataclass
class _Turns:
    """How many parents the policy has chosen in the run and how many island turns it has taken
    (drafts and breeding, not migrations), read from the tags its choices left."""

    selections: int
    turns: int

    @classmethod
    def of(cls, graph: Graph) -> _Turns:
        chosen = [(n.parent_id, n.tags) for n in graph.whole.nodes.values()]
        chosen += [(p.parent_id, p.tags) for p in graph.pending]
        tagged = [(parent, tags) for parent, tags in chosen if "island" in tags]  # seeds carry none
        migrated = sum(1 for _, tags in tagged if "migrated_from" in tags)
        return cls(sum(1 for parent, _ in tagged if parent is not None), len(tagged) - migrated)


@dataclass
class EvolvePolicy:
    """Islands visited in rotation; every ``migration_interval``-th selection is a migration
    into the next receiving island (receivers rotate too), from its ring predecessor. A donor's
    best that the receiver already holds a child of is not sent again; that turn breeds as usual.
    The rotation is counted from the run's island tags, so a resumed run carries on where it was."""

    n_islands: int = EvolveOptions().n_islands
    migration_interval: int = EvolveOptions().migration_interval
    tournament_size: int = EvolveOptions().tournament_size
    name: str = field(default="evolve", init=False, repr=False)

    def __post_init__(self) -> None:
        EvolveOptions(n_islands=self.n_islands, migration_interval=self.migration_interval,
                      tournament_size=self.tournament_size)  # the bounds config.py gives the knobs

    def select(self, graph: Graph, k: int, rng: random.Random) -> list[Selection]:
        done = _Turns.of(graph)
        if not graph:
            return drafts(k, [{"island": self._next_island(done)} for _ in range(k)])
        members = island_members(graph, self.n_islands)
        return [self._select_one(members, done, rng) for _ in range(k)]

    def _select_one(self, members: list[list[NodeView]], done: _Turns, rng: random.Random) -> Selection:
        done.selections += 1
        if done.selections % self.migration_interval == 0 and self.n_islands > 1:
            migration = self._migrate(members, receiver=(done.selections // self.migration_interval - 1) % self.n_islands)
            if migration is not None:
                return migration
        island = self._next_island(done)
        # An island nobody has reached yet (fewer seeds than islands) starts from the whole population.
        pool = members[island] or [n for group in members for n in group]
        return Selection(self._tournament(pool, rng), {"island": island})

    def _migrate(self, members: list[list[NodeView]], receiver: int) -> Selection | None:
        donor = (receiver - 1) % self.n_islands
        working = [n for n in members[donor] if not n.is_buggy]
        if not working:
            return None
        best = max(working, key=fitness_key)
        if any(n.parent_id == best.id for n in members[receiver]):
            return None  # already brought over: another copy would only speed up a takeover
        return Selection(best, {"island": receiver, "migrated_from": donor})

    def _next_island(self, done: _Turns) -> int:
        island = done.turns % self.n_islands
        done.turns += 1
        return island

    def _tournament(self, pool: list[NodeView], rng: random.Random) -> NodeView:
        contestants = rng.sample(pool, min(self.tournament_size, len(pool)))
        return max(contestants, key=fitness_key)
