"""When a search stops: step budget, time budget, stall (no improvement in K steps), target score,
and on a platform that does not time kernels the first correct one (nothing there tells a faster one)."""

from __future__ import annotations

from dataclasses import dataclass

from kernelevolve.graph import Graph


@dataclass(frozen=True)
class Termination:
    """Stopping rules; None disables a rule. ``should_stop`` names the first rule that fires."""

    max_steps: int | None = None
    max_seconds: float | None = None
    stall_steps: int | None = None
    target_score: float | None = None
    first_correct: bool = False  # stop once any node is correct

    def __post_init__(self) -> None:
        for rule in ("max_steps", "max_seconds", "stall_steps", "target_score"):
            value = getattr(self, rule)
            if value is not None and value <= 0:
                raise ValueError(f"termination {rule} must be > 0, got {value}")

    def should_stop(self, graph: Graph, steps_done: int, elapsed_s: float) -> str | None:
        """The reason to stop now, or None to go on. A reached target is reported first."""
        best = graph.best()
        if self.target_score is not None and best is not None and best.score >= self.target_score:
            return f"target: score {best.score:.3g} reached the target {self.target_score:.3g}"
        if self.first_correct and best is not None:
            return (f"correct: node {best.id} is correct, and this platform does not time kernels "
                    "(--search-untimed searches on for variants; kernelevolve retime times them on a GPU)")
        if self.max_steps is not None and steps_done >= self.max_steps:
            return f"steps: {steps_done} of {self.max_steps} steps done"
        if self.max_seconds is not None and elapsed_s >= self.max_seconds:
            return f"time: {elapsed_s:.0f} s elapsed of a {self.max_seconds:.0f} s budget"
        if self.stall_steps is not None and steps_since_improvement(graph) >= self.stall_steps:
            return f"stall: no improvement in {self.stall_steps} steps"
        return None


def steps_since_improvement(graph: Graph) -> int:
    """Nodes evaluated after the first one to reach the best score (all of them if none works).

    Node ids grow in evaluation order, so "after" is "with a larger id".
    """
    best = graph.best()
    if best is None:
        return len(graph)
    return sum(1 for node_id in graph.nodes if node_id > best.id)
