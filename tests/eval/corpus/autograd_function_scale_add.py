"""The kernel behind a torch.autograd.Function, as training libraries ship it."""

import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def scale_add_kernel(x_ptr, y_ptr, out_ptr, n, scale, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, scale * tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)


def _scale_add(x, y, scale):
    out = torch.empty_like(x)
    n = x.numel()
    scale_add_kernel[(triton.cdiv(n, 1024),)](x, y, out, n, scale, BLOCK=1024)
    return out


class ScaleAdd(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return _scale_add(x, y, 2.0)

    @staticmethod
    def backward(ctx, grad):
        return 2.0 * grad, grad


class ModelNew(nn.Module):
    def forward(self, x, y):
        return ScaleAdd.apply(x.contiguous(), y.contiguous())
