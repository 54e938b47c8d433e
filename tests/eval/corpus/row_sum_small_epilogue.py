"""Row sums in Triton, then a small PyTorch epilogue: reshape, bias add on an m-element tensor,
contiguous."""

import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def row_sum_kernel(x_ptr, out_ptr, n, BLOCK_N: tl.constexpr):
    row = tl.program_id(0)
    acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for start in range(0, n, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        acc += tl.load(x_ptr + row * n + cols, mask=cols < n, other=0.0)
    tl.store(out_ptr + row, tl.sum(acc, axis=0))


class ModelNew(nn.Module):
    def forward(self, x, bias):
        m, n = x.shape
        sums = torch.empty((1, m), device=x.device, dtype=x.dtype)
        row_sum_kernel[(m,)](x.contiguous(), sums, n, BLOCK_N=128)
        return (sums.reshape(m) + bias).contiguous()
