import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def bad_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, n)  # n is not a constexpr: not a valid range
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))


class ModelNew(nn.Module):
    def forward(self, x, y):
        out = torch.empty_like(x)
        bad_kernel[(1,)](x, out, x.numel(), BLOCK=1024)
        return out
