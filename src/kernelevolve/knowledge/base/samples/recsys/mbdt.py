"""MBDT multi-border discretization: a per-feature binary search over a 2D tile of values.

Use this when every column of a matrix is bucketized (or searched) against its own sorted array
(per-feature bucketize, batched searchsorted, quantile binning of dense features): the values
stream in their natural row-major layout and each lane searches its feature's border row.

Matches a reference whose `Model.__init__(self)` takes no arguments and whose forward takes
x (B, F) float and borders (F, NB) float sorted per row, and returns int64 (B, F): the number of
borders of feature f strictly below x[b, f] (torch.bucketize, right=False, per feature)
(suites/recsys/mbdt.py).

Tiling. A program owns a [BLOCK_B, BLOCK_F] tile of x: loads and stores run along F, contiguous,
so no transpose is needed (the reference copies x transposed for searchsorted). Each lane keeps a
half-open interval [lo, hi) over its feature's NB borders and halves it NB.bit_length() times (a
constexpr, the loop unrolls): `border < x` moves lo past mid, so ties go to the lower bucket
(right=False) and repeated borders resolve to the first of them. The border table (F x NB x 4
bytes, 128 KB at the production shapes) is gathered at the probe positions and stays in L1/L2;
each value costs one read, one int64 write and log2(NB) + 1 cached probes.

Limits. Lanes that step along F probe different border rows (stride NB), so every probe is a
scattered gather: for small NB a tile that loads each feature's border row into registers once and
counts `borders < x` (tl.sum of a comparison) avoids the dependent probes. NaN values (none in the
problem) land in bucket 0 here, where searchsorted puts them last. The int64 output is two thirds
of the traffic; it is what the reference returns.
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

BLOCK_B = 32
BLOCK_F = 64


@triton.jit
def mbdt_kernel(x_ptr, borders_ptr, out_ptr, B, F, NB, STEPS: tl.constexpr,
                BLOCK_B: tl.constexpr, BLOCK_F: tl.constexpr):
    rows = (tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)).to(tl.int64)
    feats = tl.program_id(1) * BLOCK_F + tl.arange(0, BLOCK_F)
    mask = (rows[:, None] < B) & (feats[None, :] < F)
    offs = rows[:, None] * F + feats[None, :]
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    border_row = borders_ptr + feats[None, :].to(tl.int64) * NB
    lo = tl.zeros([BLOCK_B, BLOCK_F], dtype=tl.int32)
    hi = tl.zeros([BLOCK_B, BLOCK_F], dtype=tl.int32) + NB
    for _ in tl.static_range(STEPS):
        active = lo < hi
        mid = (lo + hi) // 2
        border = tl.load(border_row + mid, mask=mask & active, other=0.0)
        go_right = border < x
        lo = tl.where(active & go_right, mid + 1, lo)
        hi = tl.where(active & (~go_right), mid, hi)
    tl.store(out_ptr + offs, lo.to(tl.int64), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor, borders: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        borders = borders.contiguous()
        batch, features = x.shape
        n_borders = borders.shape[1]
        out = torch.empty((batch, features), device=x.device, dtype=torch.int64)
        if out.numel() == 0:
            return out
        grid = (triton.cdiv(batch, BLOCK_B), triton.cdiv(features, BLOCK_F))
        mbdt_kernel[grid](
            x, borders, out, batch, features, n_borders, STEPS=n_borders.bit_length(),
            BLOCK_B=BLOCK_B, BLOCK_F=BLOCK_F, num_warps=4,
        )
        return out
