"""Checks of the problem itself, made in the reference worker before any candidate runs: a case too
large for the platform, inputs that a fixed seed does not fix, a reference that is random, inputs a
candidate worker could load only by unpickling code, and redrawn inputs on which the reference
gives NaN or Inf though it does not on its own.

Each finding blames the problem in one sentence (docs/correctness.md); none depends on a candidate.
"""

from __future__ import annotations

import io
import re
import types
from typing import Any

import torch

from kernelevolve.eval.check_sizes import Uncountable, count_elements
from kernelevolve.eval.inputs import Case, clone_value, digest, make_inputs, on_device
from kernelevolve.problem import Problem

OTHER_STATE = 7_919  # the second call's seed is the case's plus this: the same inputs, another random state


def oversized(module: types.ModuleType, problem: Problem, case: Case, max_elements: int,
              counted: dict[str, Any]) -> dict[str, Any] | None:
    """The skip record of a case whose inputs and outputs hold more than ``max_elements`` (counted on
    the meta device once per shape, in ``counted``), else None. A production shape whose inputs
    cannot be made on meta is skipped, not made to count it; a check shape is small by its owner's
    word and is made for real."""
    if case.shape not in counted:
        try:
            counted[case.shape] = count_elements(module, case.params).elements
        except Uncountable as exc:
            if _is_check_shape(problem, case.shape):
                inputs = make_inputs(module, problem, case, "cpu")
                counted[case.shape] = sum(x.numel() for x in inputs if isinstance(x, torch.Tensor))
            else:
                counted[case.shape] = f"its inputs cannot be counted on the meta device ({exc}), and are not made to count them"
    elements = counted[case.shape]
    if isinstance(elements, str):
        return {"id": case.id, "skipped": True, "why": elements}
    if elements > max_elements:
        return {"id": case.id, "skipped": True, "elements": elements,
                "why": f"{elements:,} input and output elements, over {max_elements:,}"}
    return None


def _is_check_shape(problem: Problem, name: str) -> bool:
    return any(s.name == name and not s.timed for s in problem.shapes)


def unseeded_inputs(module: types.ModuleType, problem: Problem, case: Case, inputs: list[Any]) -> str | None:
    """Why ``get_inputs`` is the problem's fault when a second draw under the case's seed differs
    (drawn again on the CPU: the same values, and no second copy on the device)."""
    if digest(make_inputs(module, problem, case, "cpu")) == digest(inputs):
        return None
    return (f"get_inputs() is not deterministic under a fixed seed: two calls after torch.manual_seed({case.seed}) "
            f"made different inputs for shape {case.shape}, so the candidate's worker cannot make the reference's "
            "inputs; draw with torch's own generator (not numpy, random, the clock or a fixed torch.Generator "
            "seeded elsewhere)")


def random_reference(model: torch.nn.Module, problem: Problem, case: Case, inputs: list[Any],
                     outputs: list[torch.Tensor]) -> str | None:
    """Why the reference is the problem's fault when a second call on the same inputs, under another
    random state, returns other outputs, beyond the outputs' tolerances."""
    from kernelevolve.eval.outputs import reference_outputs

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(case.seed + OTHER_STATE)
        again = reference_outputs(model(*[clone_value(x) for x in inputs]))[1]
    for index, (first, second) in enumerate(zip(outputs, again)):
        if _same(first, second, problem):
            continue
        gap = (first.double() - second.double()).abs().nan_to_num(posinf=float("inf")).max().item() \
            if first.shape == second.shape else float("nan")
        return (f"the reference is random: called twice on the same inputs of shape {case.shape}, its output "
                f"{index} differs by up to {gap:.3g}, so no candidate can match it; if dropout or another "
                "training-mode layer makes it so, put the model in eval mode (end Model.__init__ with "
                "`self.eval()`)")
    return None


def _same(a: torch.Tensor, b: torch.Tensor, problem: Problem) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not (a.is_floating_point() or a.is_complex()):
        return torch.equal(a, b)
    atol, rtol = problem.tolerance(str(a.dtype).replace("torch.", ""))
    return torch.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True)


def finite(outputs: list[torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(o).all()) for o in outputs if o.is_floating_point() or o.is_complex())


def unloadable(inputs: list[Any], case: Case) -> str | None:
    """Why a candidate worker could not read ``case``'s timing sets, drawn as ``inputs`` are (it
    loads them with ``weights_only``: no pickled code, eval/feed.py), or None."""
    buffer = io.BytesIO()
    torch.save(on_device(inputs, "cpu"), buffer)
    buffer.seek(0)
    try:
        torch.load(buffer, weights_only=True)
    except Exception as exc:  # the unpickler names the type it refused
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f"a {refused.group(1)}" if refused else f"a value ({type(exc).__name__})"
        return (f"get_inputs returns {what} (shape {case.shape}), which a candidate worker cannot load without "
                "unpickling code: return tensors, Python numbers, strings, None, and lists, tuples or dicts of them")
    return None
