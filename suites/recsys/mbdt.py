"""MBDT, multi-border discretization: bucketize every dense feature by its own sorted borders (a
KernelEvolve case study, arXiv 2512.23236: turning dense features into ids for embedding tables).

x (B, F) float32, borders (F, NB) float32 sorted along each row -> int64 (B, F) bucket ids,
out[b, f] = number of borders of feature f strictly below x[b, f], i.e. ``torch.bucketize`` with
``right=False`` per feature: borders[f, i-1] < x[b, f] <= borders[f, i] gives bucket i, a value equal
to a border falls in the bucket below it, values above every border get NB. The reference is the
best PyTorch a user writes: one batched ``torch.searchsorted`` over the transposed features (not a
Python loop of ``torch.bucketize`` over features).

Inputs are drawn here (``dist``) so the borders stay sorted: each feature gets its own location
and scale, its borders are sorted draws from that feature's distribution (a few rows repeat a
border, as quantile borders of discrete features do), x follows the trial's distribution mapped
to the same location and scale, and one value in eight is set exactly to one of its feature's
borders so the tie rule is exercised.
"""

import torch
import torch.nn as nn

SHAPES = {
    "4096x512x64": {"B": 4096, "F": 512, "NB": 64},
    "16384x256x32": {"B": 16384, "F": 256, "NB": 32},
    # Out of distribution: many borders (11 search steps), odd feature and border counts.
    "ood-2048x100x1000": {"B": 2048, "F": 100, "NB": 1000},
}
CHECK_SHAPES = {
    "37x5x7": {"B": 37, "F": 5, "NB": 7},
    "100x129x33": {"B": 100, "F": 129, "NB": 33},
    "3x1x1": {"B": 3, "F": 1, "NB": 1},
    "64x3x300": {"B": 64, "F": 3, "NB": 300},
}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor, borders: torch.Tensor) -> torch.Tensor:
        return torch.searchsorted(borders, x.t().contiguous(), right=False).t()


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


def get_inputs(B: int = 4096, F: int = 512, NB: int = 64, dist: str = "normal"):
    loc = torch.randn(F) * 10
    scale = torch.rand(F) * 4 + 0.1
    borders = torch.sort(loc[:, None] + scale[:, None] * _draw((F, NB), dist), dim=1).values
    if NB > 1:  # a repeated border in every fourth feature; the rows stay sorted
        borders[::4, NB // 2] = borders[::4, NB // 2 - 1]
    x = loc + scale * _draw((B, F), dist)
    on_border = torch.rand(B, F) < 0.125
    picked = borders.gather(1, torch.randint(0, NB, (F, B))).t()
    x = torch.where(on_border, picked, x)
    return [x.float().contiguous(), borders.float().contiguous()]


def get_init_inputs():
    return []
