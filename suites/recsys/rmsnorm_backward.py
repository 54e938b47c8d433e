"""RMSNorm backward: from x (M, N), weight (N,) and the output gradient (M, N), the input gradient
dx (M, N) and the weight gradient dweight (N,) (a KernelEvolve case study, arXiv 2512.23236).

Forward: y = x * rstd * weight, rstd = 1 / sqrt(mean(x^2 over N) + eps), eps = 1e-6. Backward, with
xhat = x * rstd:  dx = rstd * (dy * w - xhat * mean(dy * w * xhat over N)),  dweight = sum over M of
dy * xhat. The reference writes these formulas in fp32 on bf16 inputs, as a hand-written
``autograd.Function`` backward does, and rounds both results to bf16. (Autograd through
``F.rms_norm`` would give the same values up to where intermediates are rounded to bf16, which differs
between PyTorch's CPU and CUDA paths; the explicit form is one contract on every device.)

dweight reduces over all M rows (4096 to 65536): a kernel needs a split reduction (per-program
partial sums, then a second pass) or atomics.

Inputs are drawn here (``dist``): for 'large' only x is scaled (x 1000, which tests rstd on large
rows and squares that must not overflow); grad_out and weight keep unit scale, because a dweight
entry is a sum of M terms that can cancel to near zero, and at 1000x scale the fp32 reordering
error of that sum (a few 0.1) would exceed bf16's absolute tolerance on such entries for any
correct kernel.
"""

import torch
import torch.nn as nn

EPS = 1e-6

SHAPES = {
    "4096x8192": {"M": 4096, "N": 8192},
    "16384x4096": {"M": 16384, "N": 4096},
    "32768x1024": {"M": 32768, "N": 1024},
    # Out of distribution: many short rows, a width that is not a power of two.
    "ood-65536x768": {"M": 65536, "N": 768},
}
CHECK_SHAPES = {
    "37x129": {"M": 37, "N": 129},
    "5x1000": {"M": 5, "N": 1000},
    "300x70": {"M": 300, "N": 70},
    "1x7": {"M": 1, "N": 7},
}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor):
        x32, w32, dy = x.float(), weight.float(), grad_out.float()
        rstd = torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + EPS)
        xhat = x32 * rstd
        wdy = dy * w32
        dx = rstd * (wdy - xhat * (wdy * xhat).mean(-1, keepdim=True))
        dweight = (dy * xhat).sum(0)
        return dx.to(x.dtype), dweight.to(weight.dtype)


def _draw(shape: tuple[int, ...], dist: str) -> torch.Tensor:
    if dist == "normal":
        return torch.randn(shape)
    if dist == "uniform":
        return torch.rand(shape) * 2 - 1
    if dist == "heavy_tailed":  # Student-t, 2 degrees of freedom, clipped as the harness clips it
        chi = torch.randn((2, *shape)).pow(2).sum(0)
        return (torch.randn(shape) / torch.sqrt(chi / 2 + 1e-12)).clamp(-1e3, 1e3)
    if dist == "large":
        return torch.randn(shape) * 1e3
    raise ValueError(f"unknown distribution {dist!r}")


def get_inputs(M: int = 4096, N: int = 8192, dist: str = "normal"):
    unit = "normal" if dist == "large" else dist
    x = _draw((M, N), dist).bfloat16()
    weight = _draw((N,), unit).bfloat16()
    grad_out = _draw((M, N), unit).bfloat16()
    return [x, weight, grad_out]


def get_init_inputs():
    return []
