"""Row softmax: softmax over the last dimension, one program per row.

Use this when a problem reduces along the last axis and then rescales every element of that row
(softmax, log-softmax, normalisation layers). It shows masked tails for widths that are not a power of
two, subtracting the row maximum so exp cannot overflow, fp32 math for fp16/bf16 inputs, int64 row
offsets, and an online two-pass variant for rows too wide to hold in registers.

Matches a reference whose `Model.__init__(self)` takes no arguments and whose forward is
`torch.softmax(x, dim=-1)` for a contiguous `x` of any rank.
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

# Widest row kept in registers in one piece; wider rows stream through chunks of CHUNK elements.
MAX_SINGLE_BLOCK = 8192
CHUNK = 2048


@triton.jit
def softmax_row_kernel(x_ptr, y_ptr, n_cols, x_row_stride, y_row_stride, BLOCK: tl.constexpr):
    # int64 row index: row * stride overflows int32 once a tensor passes 2**31 elements.
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    # -inf in the padding lanes leaves the max unchanged and contributes exp(-inf) = 0 to the sum.
    x = tl.load(x_ptr + row * x_row_stride + cols, mask=mask, other=float("-inf")).to(tl.float32)
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    y = num / tl.sum(num, axis=0)
    tl.store(y_ptr + row * y_row_stride + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def softmax_row_chunked_kernel(x_ptr, y_ptr, n_cols, x_row_stride, y_row_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * x_row_stride
    y_row = y_ptr + row * y_row_stride
    cols = tl.arange(0, BLOCK)
    # Pass 1 (online softmax): a running max m and a running sum s of exp(x - m); s is rescaled
    # whenever m grows. Both start as fp32 scalars so their type stays fixed across iterations.
    m = tl.full([], float("-inf"), tl.float32)
    s = tl.zeros([], tl.float32)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(x_row + start + cols, mask=mask, other=float("-inf")).to(tl.float32)
        m_new = tl.maximum(m, tl.max(x, axis=0))
        s = s * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), axis=0)
        m = m_new
    # Pass 2: the row is read again (mostly from L2) and normalised.
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(x_row + start + cols, mask=mask, other=float("-inf")).to(tl.float32)
        y = tl.exp(x - m) / s
        tl.store(y_row + start + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_cols = x.shape[-1]
        y = torch.empty_like(x)
        if x.numel() == 0:
            return y
        # view, not reshape: a view never copies, and it raises rather than silently running a
        # PyTorch copy kernel if an input is ever non-contiguous.
        x2 = x.view(-1, n_cols)
        y2 = y.view(-1, n_cols)
        grid = (x2.shape[0],)
        if n_cols <= MAX_SINGLE_BLOCK:
            block = triton.next_power_of_2(n_cols)
            num_warps = 4 if block <= 1024 else 8 if block <= 4096 else 16
            softmax_row_kernel[grid](
                x2, y2, n_cols, x2.stride(0), y2.stride(0), BLOCK=block, num_warps=num_warps
            )
        else:
            softmax_row_chunked_kernel[grid](
                x2, y2, n_cols, x2.stride(0), y2.stride(0), BLOCK=CHUNK, num_warps=8
            )
        return y
