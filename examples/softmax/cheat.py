"""A cheating row softmax for the demo: a Triton kernel only copies the input, and PyTorch computes
the result. Its outputs are right; the harness refuses it all the same."""

import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def copy_kernel(src_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(src_ptr + offs, mask=mask), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        copy = torch.empty_like(x)
        copy_kernel[(triton.cdiv(x.numel(), 1024),)](x, copy, x.numel(), BLOCK=1024)
        return torch.softmax(copy, dim=-1)  # the work is PyTorch's
