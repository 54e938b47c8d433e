"""Jagged softmax: softmax over each sequence of a packed tensor, sequences given by offsets.

Use this when a problem normalises variable-length sequences packed back to back (attention over a
user's history, per-segment softmax or log-softmax of a KeyedJaggedTensor's values). It shows one
program per (sequence, column block) with loop bounds loaded from the offsets, an online max and sum
over a sequence of any length (so no length bound is needed), -inf values (masked logits) without
NaN, empty sequences, int64 row offsets, strided values and fp32 math for fp16/bf16 values.

Matches a reference whose `Model.__init__(self)` takes no arguments and whose forward takes
`values` (total_len, D) or (total_len,) and int64 `offsets` (B + 1,), `offsets[0] = 0`, and returns
`torch.softmax(values[offsets[b]:offsets[b + 1]], dim=0)` for every sequence b, packed the same way.
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

BLOCK_L = 32  # rows of one sequence per step: the loop over a sequence runs cdiv(length, BLOCK_L) times
MAX_BLOCK_D = 64


@triton.jit
def jagged_softmax_kernel(values_ptr, offsets_ptr, out_ptr, D, stride_v, stride_vd, stride_o,
                          BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr):
    b = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    col_mask = cols < D
    # Offsets index rows of the packed tensor: int64, as start * stride outgrows int32 on big batches.
    start = tl.load(offsets_ptr + b).to(tl.int64)
    end = tl.load(offsets_ptr + b + 1).to(tl.int64)
    # Pass 1 (online softmax down the sequence): a running max m and sum s of exp(x - m) per column.
    m = tl.full([BLOCK_D], float("-inf"), tl.float32)
    s = tl.zeros([BLOCK_D], tl.float32)
    for row0 in range(start, end, BLOCK_L):
        rows = row0 + tl.arange(0, BLOCK_L)
        # A 2-D mask from a row vector and a column vector (the interpreter refuses block & scalar).
        mask = (rows[:, None] < end) & col_mask[None, :]
        x = tl.load(values_ptr + rows[:, None] * stride_v + cols[None, :] * stride_vd, mask=mask, other=float("-inf"))
        x = x.to(tl.float32)
        m_new = tl.maximum(m, tl.max(x, axis=0))
        # While a column has seen only -inf (masked logits, padding lanes past D), exp(-inf - -inf)
        # would be NaN and poison s for good: subtract 0 there, so s stays 0 until a finite value.
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        s = s * tl.exp(m - m_safe) + tl.sum(tl.exp(x - m_safe[None, :]), axis=0)
        m = m_new
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    # A column that is -inf throughout keeps s = 0 and gives 0 * inf = NaN, as torch.softmax does.
    inv_s = 1.0 / s  # one division per column, not per element
    # Pass 2: the sequence is read again (mostly from L2) and normalised. An empty sequence runs
    # neither loop and writes nothing: it owns no rows of the output.
    for row0 in range(start, end, BLOCK_L):
        rows = row0 + tl.arange(0, BLOCK_L)
        mask = (rows[:, None] < end) & col_mask[None, :]
        x = tl.load(values_ptr + rows[:, None] * stride_v + cols[None, :] * stride_vd, mask=mask, other=float("-inf"))
        y = tl.exp(x.to(tl.float32) - m_safe[None, :]) * inv_s[None, :]
        tl.store(out_ptr + rows[:, None] * stride_o + cols[None, :], y.to(out_ptr.dtype.element_ty), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        out = torch.empty(values.shape, dtype=values.dtype, device=values.device)
        batch = offsets.numel() - 1  # from the shape: reading offsets[-1] would synchronise with the device
        if values.numel() == 0 or batch <= 0:
            return out
        # A 1-D tensor is one column (a view, never a copy); a strided 2-D input is read through its strides.
        values2 = values.view(-1, 1) if values.dim() == 1 else values
        out2 = out.view(-1, 1) if values.dim() == 1 else out
        d = values2.shape[1]
        block_d = min(triton.next_power_of_2(d), MAX_BLOCK_D)
        grid = (batch, triton.cdiv(d, block_d))
        jagged_softmax_kernel[grid](
            values2, offsets, out2, d, values2.stride(0), values2.stride(1), out2.stride(0),
            BLOCK_L=BLOCK_L, BLOCK_D=block_d, num_warps=4,
        )
        return out
