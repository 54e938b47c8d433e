"""The configuration search: Optuna's sampler over the joint space of a kernel's tunables.

Each proposal rebuilds an in-memory Optuna study from the trials the graph already holds (their
points and scores, read from the store's nodes), asks its sampler for a point, and skips points
that were tried or that the run's resource failures and timeouts mark infeasible. Nothing lives between
steps, so a resumed or shared run samples from the same evidence as the process that wrote it.
Optuna is an optional extra (``pip install 'kernelevolve[tune]'``): without it the tuner moves
to untried neighbours (``operators/tuner.py``) and says so.
"""

from __future__ import annotations

import importlib.util
import random
import warnings
from dataclasses import dataclass

from kernelevolve.operators.base import ExpansionContext, Proposal
from kernelevolve.operators.space import Point, Space, Trial, space_of
from kernelevolve.operators.tuner import describe, sites_or_none, tuning_step

SAMPLERS = ("tpe", "random", "grid", "cmaes")
SHAPE_TURN = 3  # one step in three maximises a single shape's speedup
MAX_ASKS = 64  # asks per proposal before the search gives up on finding an untried feasible point
NO_OPTUNA = ("Optuna is not installed (pip install 'kernelevolve[tune]'): the tuner moves one or two "
             "parameters to untried neighbours instead of searching their joint space")


def optuna_available() -> bool:
    return importlib.util.find_spec("optuna") is not None


@dataclass(frozen=True)
class Suggestion:
    point: Point
    objective: str  # what the study maximised: "score" or "shape NAME"
    trials: int  # points of the space already evaluated
    skipped_infeasible: int  # asks refused because a resource failure or a timeout covers them


def objective_of(trials: list[Trial], shapes: list[str]) -> str | None:
    """What this step maximises: the run's score (geometric mean over shapes), except one step in
    ``SHAPE_TURN``, which maximises one production shape's own speedup, the shapes in turn, so that
    each shape has a winner for the per-shape export. None: the score."""
    if len(shapes) < 2 or len(trials) % SHAPE_TURN != SHAPE_TURN - 1:
        return None
    return shapes[(len(trials) // SHAPE_TURN) % len(shapes)]


def value_of(trial: Trial, shape: str | None) -> float:
    if shape is None or trial.score == 0.0:
        return trial.score
    return trial.shape_speedups.get(shape, trial.score)


def suggest(space: Space, trials: list[Trial], sampler: str, rng: random.Random,
            shapes: list[str] | None = None) -> Suggestion | None:
    """An untried, feasible point of ``space`` from the sampler's study of ``trials``; None when
    the sampler found none within its asks."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning, module="optuna")
    shape = objective_of(trials, shapes or [])
    names = [f"{d.site.name}[{d.site.index}]" for d in space.dimensions]
    distributions = {n: optuna.distributions.IntDistribution(0, len(d.values) - 1)
                     for n, d in zip(names, space.dimensions)}
    study = optuna.create_study(direction="maximize", sampler=_sampler(sampler, space, names, rng))
    seen: dict[Point, float] = {}
    for trial in trials:
        if trial.point in seen:
            continue
        seen[trial.point] = value_of(trial, shape)
        study.add_trial(optuna.trial.create_trial(params=_indices(space, names, trial.point),
                                                  distributions=distributions, value=seen[trial.point]))
    failures = [t.point for t in trials if t.too_large]
    skipped = 0
    for _ in range(min(MAX_ASKS, space.size)):
        asked = study.ask(distributions)
        point = tuple(d.values[asked.params[n]] for n, d in zip(names, space.dimensions))
        if point in seen:
            study.tell(asked, seen[point])
        elif space.infeasible(point, failures):
            skipped += 1
            seen[point] = 0.0
            study.tell(asked, 0.0)
        else:
            return Suggestion(point, "score" if shape is None else f"shape {shape}", len(trials), skipped)
    return None


def _indices(space: Space, names: list[str], point: Point) -> dict[str, int]:
    return {n: d.values.index(v) for n, d, v in zip(names, space.dimensions, point)}


def _sampler(name: str, space: Space, names: list[str], rng: random.Random):
    import optuna

    seed = rng.randrange(2**32)
    if name == "tpe":
        # multivariate: block sizes and warps interact; two random points first (a grid holds few)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=2)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler({n: list(range(len(d.values))) for n, d in zip(names, space.dimensions)},
                                           seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, with_margin=True)
    raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


class OptunaSearch:
    """The tuner's joint search: one Optuna sampler over the parent's configuration space."""

    def __init__(self, sampler: str = "tpe", radius: int = 3,
                 windows: dict[tuple[str, int], tuple[int, ...]] | None = None) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
        self.sampler, self.radius, self.windows = sampler, radius, windows

    def propose(self, ctx: ExpansionContext) -> Proposal | None:
        space = space_of(ctx.graph, ctx.parent, self.radius, self.windows)
        if space is None:
            return None
        trials = space.trials(ctx.graph)
        shapes = [s.name for s in ctx.problem.production_shapes if not s.name.startswith("ood-")]
        found = suggest(space, trials, self.sampler, ctx.rng, shapes)
        if found is None:
            return None
        source = space.source(found.point)
        moves = tuning_step(ctx.parent.source, source) or ()
        sites = list(sites_or_none(ctx.parent.source) or ())
        change = describe(moves, sites) if moves else "the anchor's configuration"
        note = f"; {found.skipped_infeasible} infeasible skipped" if found.skipped_infeasible else ""
        reason = (f"{change} ({self.sampler} over {len(space.dimensions)} parameters, {space.size} "
                  f"configurations, {found.trials} tried{note}; maximising the {found.objective})")
        return Proposal(source, "tuner", reason)
