"""``python -m kernelevolve.eval.interpreter_probe``: run tiny kernels on the installed Triton's
interpreter and print, as one JSON line, which known limits it has and what each probe saw.

Run in its own process with ``TRITON_INTERPRET=1`` (the harness's process never imports Triton);
the harness caches the answer per Triton version (eval/interpreter_limits.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice


@triton.jit
def _mul_add(x_ptr, y_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + offs, x * tl.load(y_ptr + offs) + x)


@triton.jit
def _dot(a_ptr, b_ptr, out_ptr, B: tl.constexpr):
    r = tl.arange(0, B)
    tile = r[:, None] * B + r[None, :]
    tl.store(out_ptr + tile, tl.dot(tl.load(a_ptr + tile), tl.load(b_ptr + tile)).to(out_ptr.dtype.element_ty))


@triton.jit
def _cast_argument(x_ptr, out_ptr, scale, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs) * scale.to(tl.float32))


@triton.jit
def _libdevice_exp(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, libdevice.exp(tl.load(x_ptr + offs)))


@triton.jit
def _block_and_scalar_mask(x_ptr, out_ptr, n, rows, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + row * BLOCK + offs, tl.load(x_ptr + offs), mask=(offs < n) & (row < rows))


# Each probe returns None when the interpreter gets it right, else what it saw.
def _off_by(got: torch.Tensor, want: torch.Tensor, allowed: float) -> str | None:
    error = (got.double() - want.double()).abs().max().item()
    return None if error <= allowed else f"max error {error:.3g} (allowed {allowed:g})"


def bf16_arithmetic() -> str | None:
    x, y = torch.randn(16).bfloat16(), torch.randn(16).bfloat16()
    out = torch.empty_like(x)
    _mul_add[(1,)](x, y, out, BLOCK=16)
    return _off_by(out, x.float() * y.float() + x.float(), 0.1)


def bf16_dot() -> str | None:
    a, b = torch.randn(16, 16).bfloat16(), torch.randn(16, 16).bfloat16()
    out = torch.empty(16, 16)
    _dot[(1,)](a, b, out, B=16)
    return _off_by(out, a.float() @ b.float(), 0.1)


def float_argument_methods() -> str | None:
    x = torch.randn(16)
    out = torch.empty_like(x)
    _cast_argument[(1,)](x, out, 1.5, BLOCK=16)
    return _off_by(out, x * 1.5, 1e-6)


def libdevice_functions() -> str | None:
    x = torch.rand(16)
    out = torch.empty_like(x)
    _libdevice_exp[(1,)](x, out, BLOCK=16)
    return _off_by(out, x.exp(), 1e-5)


def block_and_scalar_masks() -> str | None:
    x = torch.randn(16)
    out = torch.zeros(2, 16)
    _block_and_scalar_mask[(2,)](x, out, 10, 1, BLOCK=16)
    want = torch.zeros(2, 16)
    want[0, :10] = x[:10]
    return _off_by(out, want, 0.0)


PROBES: dict[str, Callable[[], str | None]] = {
    "bf16_arithmetic": bf16_arithmetic,
    "bf16_dot": bf16_dot,
    "float_argument_methods": float_argument_methods,
    "libdevice_functions": libdevice_functions,
    "block_and_scalar_masks": block_and_scalar_masks,
}


def main() -> None:
    if os.environ.get("TRITON_INTERPRET") != "1":
        raise SystemExit("run with TRITON_INTERPRET=1: the probes measure the interpreter")
    torch.manual_seed(0)
    limits = {}
    for name, probe in PROBES.items():
        try:
            seen = probe()
        except Exception as exc:  # a probe kernel the interpreter cannot run: the limit, in its own words
            seen = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if seen is not None:
            limits[name] = seen
    print(json.dumps({"triton": triton.__version__, "probes": sorted(PROBES), "limits": limits}))


if __name__ == "__main__":
    main()
