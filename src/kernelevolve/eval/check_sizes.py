"""How many elements a case holds, counted on the meta device only (no memory, no time), and the
check sizes of a KernelBench-style file: its module-level size constants shrunk until its case fits
a platform's limit (the interpreter's), odd sizes kept odd and powers of two kept powers of two.

KernelBench's ``get_inputs()`` takes no arguments and reads constants such as ``batch_size`` and
``dim``; ``get_init_inputs()`` reads the same constants. Both workers import the file with the
judged values set on the module (``import_problem_module(path, sizes)``), so the reference, the
candidate and every input agree. Rules and reasons are in docs/problems.md.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from dataclasses import dataclass
from typing import Any

from kernelevolve.problem import (
    Problem,
    import_problem_module,
    init_inputs,
    reference_class,
    with_sizes,
)

SHRINKABLE = 16  # constants below this (kernel sizes, strides, paddings, heads) are never shrunk
FLOOR = 8  # nor is any constant shrunk below this


class Uncountable(Exception):
    """The problem's recipe cannot run on the meta device (it needs real data: ``.item()``,
    ``unique``, a sort whose result sizes a tensor)."""


class Unfittable(Exception):
    """No check sizes fit: the message says why, in one sentence."""


@dataclass(frozen=True)
class Count:
    inputs: int
    outputs: int | None  # None: the reference cannot run on the meta device, so its outputs are not counted

    @property
    def elements(self) -> int:
        return self.inputs + (self.outputs or 0)


def count_elements(module: types.ModuleType, params: dict[str, Any]) -> Count:
    """The elements of one shape's tensor inputs and of the reference's outputs on them, made on the
    meta device (the caller's RNG state untouched); Uncountable when the inputs cannot be made there."""
    import torch

    from kernelevolve.eval.outputs import flatten

    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        torch.manual_seed(0)
        try:
            inputs = list(module.get_inputs(**params))
        except Exception as exc:  # the user's recipe: whatever it raised on meta tensors
            raise Uncountable(f"{type(exc).__name__}: {exc}") from exc
        try:
            model = reference_class(module)(*init_inputs(module))
            with torch.no_grad():
                outputs = sum(t.numel() for t in flatten(model(*inputs))[1] if isinstance(t, torch.Tensor))
        except Exception:  # noqa: BLE001 (an operator without a meta kernel: the outputs stay uncounted)
            outputs = None
    return Count(sum(t.numel() for t in inputs if isinstance(t, torch.Tensor)), outputs)


def size_constants(module: types.ModuleType) -> dict[str, int]:
    """The module-level integers (at least ``SHRINKABLE``) that ``get_inputs`` or
    ``get_init_inputs`` names: KernelBench's ``batch_size``, ``dim``, ``M``, ``in_features`` …"""
    names: set[str] = set()
    for fn in (getattr(module, "get_inputs", None), getattr(module, "get_init_inputs", None)):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError, SyntaxError):
            continue
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    found = {name: getattr(module, name, None) for name in sorted(names)}
    return {name: value for name, value in found.items() if type(value) is int and value >= SHRINKABLE}


def halved(value: int) -> int:
    """Half of a size, odd when it was odd: 4096 → 2048, 4095 → 2047, 1000 → 500 → 250 → 125."""
    return (value // 2) | 1 if value % 2 else value // 2


@dataclass(frozen=True)
class CheckSizes:
    judged: dict[str, int]  # the constants changed, with the values judged
    original: dict[str, int]  # the same constants as the file sets them
    count: Count  # at the judged sizes

    def describe(self) -> str:
        """``M=512, N=1023 (the file's 4096, 8191)``."""
        return (", ".join(f"{k}={v}" for k, v in self.judged.items())
                + f" (the file's {', '.join(str(self.original[k]) for k in self.judged)})")


def fit(module: types.ModuleType, max_elements: int) -> CheckSizes:
    """Shrink the file's size constants, the largest first, until inputs and outputs hold at most
    ``max_elements``; a constant whose halving breaks the reference on meta, or changes no size, is
    kept. The module is left as it was. Unfittable, with the reason, when nothing fits."""
    original = size_constants(module)
    if not original:
        raise Unfittable("its get_inputs() and get_init_inputs() name no module-level size constant of "
                         f"{SHRINKABLE} or more to shrink")
    sizes, kept = dict(original), set()
    try:
        current = _count_at(module, sizes)
        while current.elements > max_elements:
            movable = [n for n in sizes if n not in kept and halved(sizes[n]) >= FLOOR]
            if not movable:
                raise Unfittable(f"at the smallest sizes it allows ({_listed(sizes)}) it still holds "
                                 f"{current.elements:,} input and output elements")
            name = max(movable, key=lambda n: sizes[n])
            trial = {**sizes, name: halved(sizes[name])}
            try:
                counted = _count_at(module, trial)
            except Uncountable:
                counted = None
            if counted is None or (counted.outputs is None and current.outputs is not None) \
                    or counted.elements >= current.elements:
                kept.add(name)  # it carries structure (a divisibility the reference needs) or sizes nothing
                continue
            sizes, current = trial, counted
    except Uncountable as exc:
        raise Unfittable(f"its inputs cannot be made on the meta device to count them ({exc})") from exc
    finally:
        _set(module, original)
    judged = {k: v for k, v in sizes.items() if v != original[k]}
    return CheckSizes(judged, {k: original[k] for k in judged}, current)


def _count_at(module: types.ModuleType, sizes: dict[str, int]) -> Count:
    _set(module, sizes)
    return count_elements(module, {})


def _set(module: types.ModuleType, sizes: dict[str, int]) -> None:
    for name, value in sizes.items():
        setattr(module, name, value)


def _listed(sizes: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


def fitted(problem: Problem, max_elements: int) -> Problem:
    """``problem`` at check sizes when it is a KernelBench-style file (one shape, sizes in module
    constants) whose case holds more than ``max_elements``; else ``problem`` itself (a recipe that
    cannot run on meta is left to the reference worker, which refuses it in one sentence).
    Unfittable, with the reason, for a file too large that cannot be shrunk."""
    if [(s.name, s.params) for s in problem.shapes] != [("default", {})]:
        return problem
    module = import_problem_module(problem.path)
    try:
        full = count_elements(module, {})
    except Uncountable:
        return problem
    if full.elements <= max_elements:
        return problem
    try:
        sizes = fit(module, max_elements)
    except Unfittable as exc:
        raise Unfittable(f"{problem.name} holds {full.elements:,} input and output elements at its own sizes, over "
                         f"the interpreter's {max_elements:,}, and cannot be shrunk: {exc}; run it on a GPU, or "
                         "give get_inputs keyword parameters and declare small CHECK_SHAPES") from exc
    note = (f"judged at check sizes {sizes.describe()}: at its own sizes it holds {full.elements:,} input and "
            f"output elements, over the interpreter's {max_elements:,}")
    return with_sizes(problem, sizes.judged, note)
