"""Fused bias add + exact GELU over 2D tiles, with a learnable parameter.

Use this when a problem chains elementwise steps (bias, activation, scaling, residual add): one kernel
reads each input once and writes the output once, instead of one PyTorch kernel and one round trip
through memory per step. It also shows how ModelNew mirrors the reference's parameters, how a
per-column vector is loaded once per tile and broadcast, and 2D masking for ragged edges.

Matches a reference like:

    class Model(nn.Module):
        def __init__(self, hidden: int):
            super().__init__()
            self.bias = nn.Parameter(torch.randn(hidden))

        def forward(self, x):  # x: (..., hidden), contiguous
            return torch.nn.functional.gelu(x + self.bias)
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

BLOCK_M = 16
BLOCK_N = 128


@triton.jit
def bias_gelu_kernel(
    x_ptr, bias_ptr, y_ptr, n_rows, n_cols, x_row_stride, y_row_stride,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rows = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)).to(tl.int64)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_mask = cols < n_cols
    mask = (rows[:, None] < n_rows) & col_mask[None, :]
    # The bias tile is loaded once and broadcast down the BLOCK_M rows of the tile.
    bias = tl.load(bias_ptr + cols, mask=col_mask, other=0.0).to(tl.float32)
    x = tl.load(x_ptr + rows[:, None] * x_row_stride + cols[None, :], mask=mask, other=0.0)
    h = x.to(tl.float32) + bias[None, :]
    # Exact GELU (PyTorch's default approximate='none'): 0.5 * h * (1 + erf(h / sqrt(2))).
    y = 0.5 * h * (1.0 + tl.erf(h * 0.7071067811865476))
    tl.store(y_ptr + rows[:, None] * y_row_stride + cols[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)


class ModelNew(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        # Same name, shape and creation order as the reference, so its weights line up with ours.
        self.bias = nn.Parameter(torch.randn(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_cols = x.shape[-1]
        y = torch.empty_like(x)
        if x.numel() == 0:
            return y
        x2 = x.view(-1, n_cols)
        y2 = y.view(-1, n_cols)
        n_rows = x2.shape[0]
        grid = (triton.cdiv(n_rows, BLOCK_M), triton.cdiv(n_cols, BLOCK_N))
        bias_gelu_kernel[grid](
            x2, self.bias, y2, n_rows, n_cols, x2.stride(0), y2.stride(0),
            BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=4,
        )
        return y
