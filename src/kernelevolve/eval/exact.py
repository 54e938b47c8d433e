"""The float64 reference: the problem's model and inputs cast to float64 and run on the CPU, in the
reference worker, beside the reference outputs it vouches for.

It exists for outputs where PyTorch's own float32/float16/bfloat16 result is further from the exact
answer than a good kernel's (docs/correctness.md, "Against the float64 reference"). It is bounded:
cases whose tensors hold more than EXACT_MAX_ELEMENTS elements, or whose reference call counts more
than EXACT_MAX_FLOPS, get none, and neither does a model that cannot run in float64.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from kernelevolve.eval.outputs import flatten

LOW_PRECISION = (torch.float32, torch.float16, torch.bfloat16)
EXACT_MAX_ELEMENTS = 1 << 24  # inputs and outputs together: 128 MiB in float64
EXACT_MAX_FLOPS = 2e10  # about 2 s of float64 matmul on 2 CPU cores


class NoExactReference(Exception):
    """This case gets no float64 reference; the message says why."""


def float64_model(model: torch.nn.Module) -> torch.nn.Module:
    """A float64 CPU copy of the model (parameters and floating buffers converted)."""
    try:
        return copy.deepcopy(model).to(device="cpu", dtype=torch.float64)
    except Exception as exc:  # a model holding something that cannot be copied or cast
        raise NoExactReference(f"the model cannot be copied to float64: {type(exc).__name__}: {exc}") from exc


def exact_outputs(model64: torch.nn.Module, inputs: list[Any], outputs: list[torch.Tensor], structure: str,
                  flops: int) -> list[torch.Tensor | None] | None:
    """The float64 output beside each low-precision floating output (None beside the others); None
    when no output is low-precision floating (nothing for a float64 reference to vouch for)."""
    wanted = [o.dtype in LOW_PRECISION for o in outputs]
    if not any(wanted):
        return None
    elements = sum(t.numel() for t in [*inputs, *outputs] if isinstance(t, torch.Tensor))
    if elements > EXACT_MAX_ELEMENTS:
        raise NoExactReference(f"{elements} elements, over the {EXACT_MAX_ELEMENTS} computed in float64")
    if flops > EXACT_MAX_FLOPS:
        raise NoExactReference(f"{flops:.3g} FLOPs, over the {EXACT_MAX_FLOPS:.3g} computed in float64")
    inputs64 = [_float64(x) for x in inputs]
    try:
        with torch.no_grad():
            result = model64(*inputs64)
    except Exception as exc:  # the problem's model in a dtype it was not written for: any failure means "none"
        raise NoExactReference(f"the model fails in float64 on the CPU: {type(exc).__name__}: {exc}") from exc
    returned, values = flatten(result)
    if returned != structure:
        raise NoExactReference(f"in float64 the model returns {returned}, not {structure}")
    exact: list[torch.Tensor | None] = []
    for index, (value, out, want) in enumerate(zip(values, outputs, wanted)):
        if isinstance(value, float):
            value = torch.tensor(value, dtype=torch.float64)
        if not want:
            exact.append(None)
        elif not isinstance(value, torch.Tensor) or value.dtype != torch.float64 or value.shape != out.shape:
            what = f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise NoExactReference(f"in float64 output {index} is {what} (the model casts internally?)")
        else:
            exact.append(value.detach())
    return exact


def _float64(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        dtype = torch.float64 if x.is_floating_point() else x.dtype
        return x.detach().to(device="cpu", dtype=dtype, copy=True)  # a model may write to its inputs
    return x
