"""Inputs of one correctness case, made identically in the reference and the candidate worker:
seeded, the problem's own (``get_inputs`` as written) or drawn from a redraw distribution (never
all-zero or constant), then moved to the device.
"""

from __future__ import annotations

import hashlib
import itertools
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from kernelevolve.problem import DISTRIBUTIONS, OWN, Problem, takes_dist


@dataclass(frozen=True)
class Case:
    """One call of the model: a shape, a trial number and the seed and distribution it implies."""

    shape: str
    params: dict[str, Any]
    trial: int
    seed: int
    dist: str
    timed: bool  # trial 0 of a production shape: warm-up inputs, and its sets are timed
    sentinel_pair: bool  # call twice with different sentinels in uninitialised memory
    timing_set: int | None = None  # the inputs of one timed repetition, not a correctness case

    @property
    def id(self) -> str:
        return f"{self.shape}.t{self.trial}" if self.timing_set is None else f"{self.shape}.time{self.timing_set}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def cases_for(problem: Problem) -> list[Case]:
    """Each shape's trials: the first on the problem's own inputs (``get_inputs`` exactly as
    written, under the trial's seed), the rest on redraws rotated across the problem so that every
    distribution occurs; the last shape gets extra trials for any the rotation did not reach."""
    redraws = itertools.cycle(DISTRIBUTIONS)
    plans = [[OWN] + [next(redraws) for _ in range(problem.trials - 1)] for _ in problem.shapes]
    if plans:
        plans[-1] += [d for d in DISTRIBUTIONS if not any(d in plan for plan in plans)]
    cases = []
    for s_index, (shape, plan) in enumerate(zip(problem.shapes, plans)):
        for trial, dist in enumerate(plan):
            cases.append(
                Case(
                    shape=shape.name,
                    params=shape.params,
                    trial=trial,
                    seed=1000 * (s_index + 1) + trial,
                    dist=dist,
                    timed=shape.timed and trial == 0,
                    sentinel_pair=trial == 0,
                )
            )
    return cases


TIMING_SEED_STRIDE = 1_000_000  # above every correctness seed (1000 per shape, 1000 trials at most)


def timing_cases(case: Case, count: int) -> list[Case]:
    """The input sets of a timed shape's repetitions: its recipe and distribution, each its own seed."""
    return [replace(case, seed=case.seed + TIMING_SEED_STRIDE * (k + 1), timed=False, sentinel_pair=False,
                    timing_set=k) for k in range(count)]


def _redraw(t: torch.Tensor, dist: str, gen: torch.Generator) -> torch.Tensor:
    """A floating tensor of the same shape and dtype drawn from ``dist``."""
    shape, dtype = t.shape, t.dtype
    if dist == "normal":
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
    elif dist == "uniform":
        x = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
    elif dist == "heavy_tailed":  # Student-t with 2 degrees of freedom, clipped to stay finite
        z = torch.randn(shape, generator=gen, dtype=torch.float64)
        chi = torch.randn((2, *shape), generator=gen, dtype=torch.float64).pow(2).sum(0)
        x = (z / torch.sqrt(chi / 2 + 1e-12)).clamp(-1e3, 1e3)
    elif dist == "large":  # large magnitude, kept inside what the dtype holds after a few products
        scale = 30.0 if dtype == torch.float16 else 1e3
        x = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    else:
        raise ValueError(f"unknown distribution {dist!r}")
    return x.to(dtype)


def clone_value(x: Any) -> Any:
    """A fresh copy of a tensor input (what a call may not change); other values as they are."""
    return x.clone() if isinstance(x, torch.Tensor) else x


def make_inputs(module: types.ModuleType, problem: Problem, case: Case, device: str) -> list[Any]:
    torch.manual_seed(case.seed)
    get_inputs = module.get_inputs
    if case.dist == OWN:
        inputs = list(get_inputs(**case.params))
    elif takes_dist(get_inputs):
        inputs = list(get_inputs(**case.params, dist=case.dist))
    else:
        inputs = list(get_inputs(**case.params))
        gen = torch.Generator().manual_seed(case.seed)
        inputs = [
            _redraw(x, case.dist, gen) if isinstance(x, torch.Tensor) and x.is_floating_point() else x
            for x in inputs
        ]
    return on_device(inputs, device)


def on_device(values: list[Any], device: str) -> list[Any]:
    """The tensors among ``values`` moved to ``device``; other values as they are."""
    return [x.to(device) if isinstance(x, torch.Tensor) else x for x in values]


def sized_inputs(make: Callable[[str], list[Any]]) -> list[Any]:
    """Inputs to read shapes and dtypes from: ``make("meta")`` on the meta device when the problem's
    recipe allows it (no memory, no time), else ``make("cpu")``, drawn for real."""
    try:
        with torch.device("meta"):
            return list(make("meta"))
    except Exception:  # a recipe needing real data (sorting, unique, item()): draw it for real
        return list(make("cpu"))


DIGEST_SAMPLES = 1 << 20


def digest(values: list[Any]) -> str:
    """A content hash of the inputs (strided sample of large ones): both workers must have fed the
    model the same data."""
    h = hashlib.sha256()
    for v in values:
        if isinstance(v, torch.Tensor):
            flat = v.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // DIGEST_SAMPLES)].contiguous().cpu()
            h.update(f"{tuple(v.shape)}{v.dtype}".encode())
            h.update(sample.view(torch.uint8).numpy().tobytes() if sample.numel() else b"")
        else:
            h.update(repr(v).encode())
    return h.hexdigest()
